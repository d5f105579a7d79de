"""Run-time flags: one process-wide view of the flag file, over OpenFeature and flagd.

Configured only by the flagd provider's own environment variables:

- ``FLAGD_RESOLVER=file FLAGD_OFFLINE_FLAG_SOURCE_PATH=infra/flags/flags.flagd.json``
  (natively): the provider evaluates in-process from the file, polled every 500 ms (a path
  without ``FLAGD_RESOLVER`` means ``file`` here, where the provider alone would go to RPC);
- ``FLAGD_RESOLVER=rpc FLAGD_HOST=flagd FLAGD_PORT=8013`` (compose): a flagd server serves the
  same file and streams its changes;
- none of them: no provider at all, every flag answers its code default.

Hot paths never evaluate a flag: the provider's events (configuration changed, ready, error)
make this module evaluate every flag once, check the answers (``stackkit.flag_catalog``) and
publish them as a snapshot; :func:`choice`, :func:`is_on` and :data:`ARMED_FAULTS` read it.
Every flip is logged (``flag_changed``) and counted (``flag_changes_total{flag}``); a malformed
file leaves the last good values in force, is logged and shows in :func:`status` and
``flags_file_valid``. In production, unsafe switches answer their safe default (logged).
"""

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import structlog
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.event import EventDetails, ProviderEvent
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagEvaluationDetails, Reason
from openfeature.provider import FeatureProvider, ProviderStatus
from openfeature.provider.no_op_provider import NoOpProvider
from prometheus_client import CollectorRegistry, Counter, Gauge

from stackkit.fault_plan import NO_FAULT, FaultConfig
from stackkit.flag_catalog import (
    DEFAULT_VALUES,
    FLAG_SPECS,
    SPECS_BY_KEY,
    Evaluated,
    FlagKind,
    FlagSpec,
    FlagValue,
    armed_faults,
    fault_key,
    render,
    resolve,
)
from stackkit.logs import get_logger
from stackkit.settings import ServiceSettings

log = get_logger(__name__)

DOMAIN = "stack"
"""The OpenFeature domain the stack's provider is bound to (other code keeps the default one)."""
POLL_MS = 500
"""How often the file is polled: a flip lands within a second."""
STARTUP_WAIT_S = 5.0
"""How long start-up waits for the first answer from the provider before going on without."""
PROVIDER_ENV = ("FLAGD_OFFLINE_FLAG_SOURCE_PATH", "FLAGD_RESOLVER", "FLAGD_HOST")
"""Any of these set means a provider is configured."""
FLAG_ENV_NAMES = (*PROVIDER_ENV, "FLAGD_PORT")
"""The variables a process may be given for its flags (the flagd provider reads more, all
optional): what devstack and compose set, and what the env contract tests allow."""

ARMED_FAULTS: dict[str, FaultConfig] = {}
"""The call sites with a fault in force, by site (``redis``): one dict lookup on a hot path.
Updated in place (never rebound), so ``from stackkit.flags import ARMED_FAULTS`` stays live."""

FLAG_CHANGES = Counter(
    "flag_changes_total", "Run-time flag flips that took effect, by flag", ["flag"], registry=None
)
FLAGS_FILE_VALID = Gauge(
    "flags_file_valid",
    "1 when the flag file was read and every flag in it is valid, 0 when the last good flags"
    " are in force because it is not",
    registry=None,
)
FLAGS_FILE_VALID.set(1)
FAULTS_INJECTED = Counter(
    "faults_injected_total",
    "Injected faults, by call site and what was done (delay, error, hang)",
    ["site", "outcome"],
    registry=None,
)
_METRICS = (FLAG_CHANGES, FLAGS_FILE_VALID, FAULTS_INJECTED)


@dataclass(frozen=True)
class FlagStatus:
    """What the console and status pages show about the flags of this process."""

    source: str
    valid: bool
    error: str | None
    values: Mapping[str, str]
    refused: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "valid": self.valid,
            "error": self.error,
            "values": dict(self.values),
            "refused": list(self.refused),
        }


class _Waiters:
    """Coroutines waiting for a flag to change (a hung call), woken from the provider's thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]] = {}

    def add(self, key: str, entry: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]) -> None:
        with self._lock:
            self._by_key.setdefault(key, set()).add(entry)

    def discard(
        self, key: str, entry: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]
    ) -> None:
        with self._lock:
            self._by_key.get(key, set()).discard(entry)

    def wake(self, keys: list[str]) -> None:
        with self._lock:
            entries = [entry for key in keys for entry in self._by_key.get(key, ())]
        for loop, future in entries:
            # A closed loop raises RuntimeError: nobody is waiting there any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _RepeatFilter(logging.Filter):
    """The file watcher logs the same parse error, with a traceback, on every poll of a broken
    file: let the first through, drop the repeats until the file is good again."""

    def __init__(self) -> None:
        super().__init__()
        self._last: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message == self._last:
            return False
        self._last = message
        return True

    def reset(self) -> None:
        self._last = None


class _FlagRuntime:
    """The process's flags. One instance, shared by every app of the process (tests build
    several in one process): the first :meth:`start` opens the provider, the last stop closes
    it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.values: dict[str, FlagValue] = dict(DEFAULT_VALUES)
        self._holders = 0
        self._production_holders = 0
        self._provider: FeatureProvider | None = None
        self._client: OpenFeatureClient | None = None
        self._source = "code defaults"
        self._evaluated: dict[str, Evaluated] = {}
        self._provider_error: str | None = None
        self._error: str | None = None
        self._refused: tuple[str, ...] = ()
        self._settled = threading.Event()
        self._log_context: dict[str, Any] = {}
        self._repeat_filter = _RepeatFilter()
        self.waiters = _Waiters()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, *, production: bool) -> None:
        with self._lock:
            self._holders += 1
            self._production_holders += int(production)
            if self._holders == 1:
                self._log_context = structlog.contextvars.get_contextvars()
                self._open_provider()
            elif production and self._production_holders == 1:
                self._apply()  # a production app joined: refuse what it must not run

    def stop(self, *, production: bool) -> None:
        with self._lock:
            self._holders -= 1
            self._production_holders -= int(production)
            if self._holders > 0:
                if production and self._production_holders == 0:
                    self._apply()
                return
            client, provider = self._client, self._provider
            self._client = self._provider = None
            if client is not None:
                for event in _EVENTS:
                    client.remove_handler(event, self._on_event)
            if provider is not None:
                api.set_provider(NoOpProvider(), DOMAIN)  # shuts the old one down
            self._reset()

    def _open_provider(self) -> None:
        if not any(os.environ.get(name) for name in PROVIDER_ENV):
            self._source = "code defaults"
            self._settled.set()
            return
        # Everything from the provider's own env. Its file watcher (openfeature-provider-flagd
        # 0.6.1) polls every FLAGD_DEADLINE_MS, default 500 ms: FLAGD_OFFLINE_POLL_MS is read
        # but not used, and the constructor takes no poll interval. The flip-within-a-second
        # tests hold that to POLL_MS.
        # One exception: a flag file named without FLAGD_RESOLVER means the file resolver.
        # The provider would default to RPC against localhost:8013 and ignore the file.
        file_only = bool(os.environ.get("FLAGD_OFFLINE_FLAG_SOURCE_PATH")) and not (
            os.environ.get("FLAGD_RESOLVER")
        )
        # Imported here: the provider brings gRPC and protobuf, a process without flags
        # configured never needs them.
        from openfeature.contrib.provider.flagd import FlagdProvider
        from openfeature.contrib.provider.flagd.config import ResolverType

        provider = FlagdProvider(resolver_type=ResolverType.FILE if file_only else None)
        config = provider.config
        resolver = getattr(config.resolver, "value", config.resolver)
        self._source = (
            f"file {config.offline_flag_source_path}"
            if config.resolver is ResolverType.FILE
            else f"flagd {resolver} {config.host}:{config.port}"
        )
        logging.getLogger("openfeature.contrib").addFilter(self._repeat_filter)
        self._settled.clear()
        self._provider = provider
        api.set_provider(provider, DOMAIN)  # initialises on a thread of its own
        client = api.get_client(DOMAIN)
        self._client = client
        # Added after set_provider: a handler whose event already happened runs at once.
        for event in _EVENTS:
            client.add_handler(event, self._on_event)
        log.info("flags_source", source=self._source)

    def _reset(self) -> None:
        changed = [key for key, value in self.values.items() if value != DEFAULT_VALUES[key]]
        self.values = dict(DEFAULT_VALUES)
        ARMED_FAULTS.clear()
        self._evaluated = {}
        self._provider_error = self._error = None
        self._refused = ()
        self._source = "code defaults"
        FLAGS_FILE_VALID.set(1)
        self._settled.clear()
        self.waiters.wake(changed)

    async def wait_settled(self, timeout_s: float) -> bool:
        return await asyncio.to_thread(self._settled.wait, timeout_s)

    # -- provider events ---------------------------------------------------------------------

    def _on_event(self, details: EventDetails) -> None:
        # Handlers run on OpenFeature's thread pool, several at once and in any order: each
        # reads the provider's status as it is now and re-evaluates everything, so whichever
        # runs last leaves the truth.
        with structlog.contextvars.bound_contextvars(**self._log_context), self._lock:
            client = self._client
            if client is None or client.provider is not self._provider:
                return  # an event of a provider already closed
            status = client.get_provider_status()
            if status is ProviderStatus.NOT_READY:
                return
            if status in (ProviderStatus.ERROR, ProviderStatus.FATAL):
                if details.error_code is not None and details.message:
                    self._provider_error = details.message
                self._provider_error = self._provider_error or "the flag provider is in error"
                # Nothing new to read: a broken file left the provider's last good flags,
                # and an unreachable flagd would make every evaluation wait out a deadline.
            else:
                self._provider_error = None
                self._evaluated = {spec.key: _evaluate(client, spec) for spec in FLAG_SPECS}
            self._apply()
            self._settled.set()

    def _apply(self) -> None:
        """Resolve the last evaluations into the values in force, and say what changed."""
        resolution = resolve(self._evaluated, self.values, production=self._production_holders > 0)
        self.values = resolution.values
        armed = armed_faults(resolution.values)
        for site in [site for site in ARMED_FAULTS if site not in armed]:
            ARMED_FAULTS.pop(site, None)
        ARMED_FAULTS.update(armed)
        for change in resolution.changes:
            FLAG_CHANGES.labels(change.key).inc()
            log.info(
                "flag_changed",
                flag=change.key,
                **{"from": render(change.old), "to": render(change.new)},
            )
        self.waiters.wake([change.key for change in resolution.changes])
        for refusal in sorted(set(resolution.refused) - set(self._refused)):
            key, asked = refusal.split("=", 1)
            log.warning(
                "flag_refused",
                flag=key,
                asked=asked,
                answered=render(SPECS_BY_KEY[key].default),
                reason="unsafe in production",
            )
        self._refused = resolution.refused
        errors = [*filter(None, [self._provider_error]), *resolution.problems]
        error = "; ".join(errors) or None
        if error != self._error:
            if error is None:
                log.info("flags_valid", source=self._source)
                self._repeat_filter.reset()
            else:
                log.error(
                    "flags_invalid",
                    source=self._source,
                    error=error,
                    detail="the last good flags stay in force",
                )
        self._error = error
        FLAGS_FILE_VALID.set(0 if error else 1)

    def status(self) -> FlagStatus:
        with self._lock:
            return FlagStatus(
                source=self._source,
                valid=self._error is None,
                error=self._error,
                values={key: render(value) for key, value in self.values.items()},
                refused=self._refused,
            )


_EVENTS = (
    ProviderEvent.PROVIDER_READY,
    ProviderEvent.PROVIDER_ERROR,
    ProviderEvent.PROVIDER_CONFIGURATION_CHANGED,
    ProviderEvent.PROVIDER_STALE,
)


def _evaluate(client: OpenFeatureClient, spec: FlagSpec) -> Evaluated:
    details: FlagEvaluationDetails[Any]
    if spec.kind is FlagKind.SITE_FAULT:
        details = client.get_object_details(spec.key, {})
    elif spec.kind is FlagKind.NAMED_FAULT:
        details = client.get_boolean_details(spec.key, False)
    else:
        details = client.get_string_details(spec.key, str(spec.default))
    if details.error_code is ErrorCode.FLAG_NOT_FOUND:
        return Evaluated(absent=True)
    if details.error_code is not None:
        return Evaluated(error=f"{details.error_code.value}: {details.error_message or ''}")
    if details.reason == Reason.DISABLED or (
        details.reason == Reason.DEFAULT and details.variant is None
    ):
        return Evaluated(absent=True)  # off in the file, or no defaultVariant: code default
    return Evaluated(value=details.value)


_RUNTIME = _FlagRuntime()


# -- what the rest of the stack calls ---------------------------------------------------------


def value(key: str) -> FlagValue:
    """A flag's value in force (KeyError for a flag the catalog does not know)."""
    return _RUNTIME.values[key]


def choice(key: str) -> str:
    """A design switch's choice in force, e.g. ``choice("dispatch.search") == "h3_rings"``."""
    answer = _RUNTIME.values[key]
    if not isinstance(answer, str):
        raise TypeError(f"{key} is not a design switch")
    return answer


def is_on(key: str) -> bool:
    """Whether a named fault is on, e.g. ``is_on("catalog.cacheZoneADown")``."""
    answer = _RUNTIME.values[key]
    if not isinstance(answer, bool):
        raise TypeError(f"{key} is not a named fault")
    return answer


def fault(site: str) -> FaultConfig:
    """The fault in force at a call site (``NO_FAULT`` when none)."""
    return ARMED_FAULTS.get(site, NO_FAULT)


def status() -> FlagStatus:
    """Where the flags come from, whether the file is valid (and why not), every value."""
    return _RUNTIME.status()


async def wait_for_change(key: str, seen: FlagValue) -> None:
    """Return once ``key``'s value is no longer ``seen`` (at once if it already is not).
    Cancellable: a caller's timeout ends the wait."""
    loop = asyncio.get_running_loop()
    entry = (loop, loop.create_future())
    _RUNTIME.waiters.add(key, entry)
    try:
        # Checked after registering: a flip between the caller's read and here still wakes us.
        if _RUNTIME.values.get(key) != seen:
            return
        await entry[1]
    finally:
        _RUNTIME.waiters.discard(key, entry)


async def wait_for_fault_change(site: str, seen: FaultConfig) -> None:
    await wait_for_change(fault_key(site), seen)


def start_flags(*, production: bool) -> None:
    """Take a share of the process's flags (the first share opens the provider). Pair with
    :func:`stop_flags`; :func:`open_flags` does both on a lifespan's exit stack."""
    _RUNTIME.start(production=production)


def stop_flags(*, production: bool) -> None:
    _RUNTIME.stop(production=production)


async def wait_for_flags(timeout_s: float = STARTUP_WAIT_S) -> bool:
    """Wait for the provider's first answer (the file read, or an error); False on timeout."""
    return await _RUNTIME.wait_settled(timeout_s)


def register_flag_metrics(registry: CollectorRegistry) -> None:
    """Expose the flag and fault metrics on an app's registry (each app has its own)."""
    for metric in _METRICS:
        # ValueError: this registry has them already (one app opened flags twice).
        with contextlib.suppress(ValueError):
            registry.register(metric)


async def open_flags(
    stack: AsyncExitStack, settings: ServiceSettings, registry: CollectorRegistry | None = None
) -> None:
    """The process's flags for one app's lifespan: started, their first answer awaited (start-up
    goes on with code defaults after :data:`STARTUP_WAIT_S`), stopped on the exit stack."""
    production = settings.environment == "production"
    start_flags(production=production)
    stack.callback(stop_flags, production=production)
    if registry is not None:
        register_flag_metrics(registry)
    if not await wait_for_flags():
        log.warning("flags_not_ready", source=status().source, waited_s=STARTUP_WAIT_S)
