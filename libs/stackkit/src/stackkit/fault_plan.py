"""What an injected fault does to one call: the pure decision behind ``stackkit.faults``.

A fault flag's value is a small object (``{"latency_ms": 200, "jitter_ms": 50}``,
``{"error_rate": 0.2}``, ``{"hang": true}``); :meth:`FaultConfig.from_flag` checks it and
:func:`decide` turns it, with a random source, into what happens to this call. No I/O here:
the adapter awaits the delay, raises, or waits out the hang.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

MAX_DELAY_MS = 60_000.0
"""The longest delay a fault may add (latency plus jitter): past a minute, say ``hang``."""

FAULT_FIELDS = ("latency_ms", "jitter_ms", "error_rate", "hang")


class InvalidFault(ValueError):
    """A fault flag's value that cannot be a fault: the last good value stays in force."""


class RandomSource(Protocol):
    """What :func:`decide` draws from: ``random.Random`` fits, a seeded one replays a run."""

    def random(self) -> float:
        """A float in [0, 1)."""
        ...


@dataclass(frozen=True)
class FaultConfig:
    """One call site's fault: added latency (with jitter either side), error rate, hang."""

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_rate: float = 0.0
    hang: bool = False

    @property
    def armed(self) -> bool:
        """Whether this config does anything at all (an unarmed site pays no decision)."""
        return self.hang or self.latency_ms > 0 or self.jitter_ms > 0 or self.error_rate > 0

    def describe(self) -> str:
        """Short text for logs and the status page: ``off`` or the fields that are set."""
        if not self.armed:
            return "off"
        if self.hang:
            return "hang"
        parts = [
            f"{name}={_number_text(value)}"
            for name, value in (
                ("latency_ms", self.latency_ms),
                ("jitter_ms", self.jitter_ms),
                ("error_rate", self.error_rate),
            )
            if value
        ]
        return " ".join(parts)

    @classmethod
    def from_flag(cls, raw: object) -> "FaultConfig":
        """The fault a flag's object value describes; :class:`InvalidFault` says why not.

        Unknown fields are refused rather than ignored, so a typo (``"latency": 200``) reads
        as an error instead of a fault that silently does nothing.
        """
        if not isinstance(raw, Mapping):
            raise InvalidFault(f"a fault is an object with {', '.join(FAULT_FIELDS)}: got {raw!r}")
        unknown = sorted(str(key) for key in raw if key not in FAULT_FIELDS)
        if unknown:
            raise InvalidFault(
                f"unknown fault field(s) {', '.join(unknown)}: use {', '.join(FAULT_FIELDS)}"
            )
        hang = raw.get("hang", False)
        if not isinstance(hang, bool):
            raise InvalidFault(f"hang is true or false: got {hang!r}")
        latency = _non_negative(raw, "latency_ms")
        jitter = _non_negative(raw, "jitter_ms")
        error_rate = _non_negative(raw, "error_rate")
        if error_rate > 1:
            raise InvalidFault(f"error_rate is a fraction from 0 to 1: got {error_rate!r}")
        if latency + jitter > MAX_DELAY_MS:
            raise InvalidFault(
                f"latency_ms + jitter_ms is at most {MAX_DELAY_MS:.0f}: use hang for longer"
            )
        return cls(latency_ms=latency, jitter_ms=jitter, error_rate=error_rate, hang=hang)


NO_FAULT = FaultConfig()


@dataclass(frozen=True)
class FaultOutcome:
    """What happens to one call: wait ``delay_s``, then fail or go ahead; or hang."""

    delay_s: float = 0.0
    fail: bool = False
    hang: bool = False


PROCEED = FaultOutcome()


def decide(config: FaultConfig, source: RandomSource) -> FaultOutcome:
    """The fate of one call under ``config``.

    A hang wins over everything (the call waits until the flag changes). Otherwise the delay is
    ``latency_ms`` plus a uniform draw in ``[-jitter_ms, +jitter_ms)``, never below zero, and
    the call fails with probability ``error_rate`` after that delay (a slow failure, as a
    timing-out dependency gives). Draws happen only where they matter, in that order (jitter,
    then error), so a seeded source replays the same fates.
    """
    if config.hang:
        return FaultOutcome(hang=True)
    delay_ms = config.latency_ms
    if config.jitter_ms > 0:
        delay_ms += config.jitter_ms * (2.0 * source.random() - 1.0)
    if config.error_rate >= 1:
        fail = True
    elif config.error_rate > 0:
        fail = source.random() < config.error_rate
    else:
        fail = False
    return FaultOutcome(delay_s=max(0.0, delay_ms) / 1000.0, fail=fail)


def _non_negative(raw: Mapping[object, object], name: str) -> float:
    value = raw.get(name, 0)
    # bool is an int in Python: "latency_ms": true is a mistake, not one millisecond.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidFault(f"{name} is a number: got {value!r}")
    if value != value or value < 0 or value == float("inf"):
        raise InvalidFault(f"{name} is a finite number of at least 0: got {value!r}")
    return float(value)


def _number_text(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)
