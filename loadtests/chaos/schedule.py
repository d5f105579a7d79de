"""The chaos monkey's plan: which fault, on what, when and for how long, from a seed alone.

Pure: the same seed, duration, intensity and targets give the same schedule, so a run that broke
an invariant can be replayed exactly (``make chaos SEED=...``). The runner carries it out through
the runner's control API (kill, pause, resume) and the flag file (fault flags).
"""

import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class ActionKind(StrEnum):
    KILL = "kill"
    """SIGKILL; the supervisor brings the process back after its backoff."""
    PAUSE = "pause"
    """SIGSTOP for ``hold_s``, then SIGCONT: a hung peer whose connections stay open."""
    FLAG = "flag"
    """A fault flag set to ``variant`` for ``hold_s``, then back to its default."""


@dataclass(frozen=True)
class Target:
    name: str
    """A process or local server name (``ctl status`` lists them), or a flag key."""
    kinds: tuple[ActionKind, ...]
    variants: tuple[str, ...] = ()
    """For a flag: the variants the monkey may choose."""


@dataclass(frozen=True)
class Intensity:
    mean_gap_s: float
    """Mean time between the starts of two faults (exponentially distributed gaps)."""
    hold_s: tuple[float, float]
    """How long a pause or a flag lasts, uniformly between these."""
    most_at_once: int
    """Faults in force at the same time, at the most."""


INTENSITIES = {
    "small": Intensity(mean_gap_s=10.0, hold_s=(2.0, 5.0), most_at_once=1),
    "default": Intensity(mean_gap_s=8.0, hold_s=(2.0, 8.0), most_at_once=2),
    "high": Intensity(mean_gap_s=4.0, hold_s=(3.0, 10.0), most_at_once=3),
}

QUIET_START_S = 5.0
"""No fault in the first seconds: the checkers see a steady state before the first fault."""
QUIET_END_S = 10.0
"""Nor in the last ones, so every fault is over (and recovered from) before the verdict."""
RECOVERY_S = 10.0
"""After a fault ends, how long its target may still be recovering (a killed process's
restart, a consumer's rejoin): the window that counts as failover for error ratios."""


@dataclass(frozen=True)
class Action:
    at_s: float
    kind: ActionKind
    target: str
    hold_s: float = 0.0
    variant: str = ""

    @property
    def ends_s(self) -> float:
        return self.at_s + self.hold_s

    @property
    def window(self) -> tuple[float, float]:
        """From the fault to the end of its recovery: errors inside it are expected."""
        return (self.at_s, self.ends_s + RECOVERY_S)

    def describe(self) -> str:
        if self.kind is ActionKind.FLAG:
            return f"{self.target}={self.variant} for {self.hold_s:.1f}s"
        if self.kind is ActionKind.PAUSE:
            return f"pause {self.target} for {self.hold_s:.1f}s"
        return f"kill {self.target}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"kind": self.kind.value, "description": self.describe()}


def plan(
    seed: int, duration_s: float, intensity: Intensity, targets: Sequence[Target]
) -> list[Action]:
    """The faults of one run, in start order. Never two at once on one target, never more than
    ``intensity.most_at_once`` at once, none in the quiet start and end."""
    if not targets:
        raise ValueError("the chaos monkey needs at least one target")
    rng = random.Random(seed)
    actions: list[Action] = []
    at = QUIET_START_S
    last_start = duration_s - QUIET_END_S
    while True:
        at += rng.expovariate(1.0 / intensity.mean_gap_s)
        if at >= last_start:
            return actions
        # Every draw happens whether or not the action is kept: a skipped slot does not shift
        # the rest of the schedule, so the same seed gives the same faults at the same times.
        target = targets[rng.randrange(len(targets))]
        kind = target.kinds[rng.randrange(len(target.kinds))]
        hold = round(rng.uniform(*intensity.hold_s), 1)
        variant = target.variants[rng.randrange(len(target.variants))] if target.variants else ""
        start = math.floor(at * 10) / 10  # rounded down: never past ``last_start``
        room = math.floor((last_start - start) * 10) / 10  # so that it ends by ``last_start``
        if kind is not ActionKind.KILL and room < intensity.hold_s[0]:
            continue
        action = Action(
            start,
            kind,
            target.name,
            hold_s=0.0 if kind is ActionKind.KILL else min(hold, room),
            variant=variant if kind is ActionKind.FLAG else "",
        )
        if _fits(action, actions, intensity.most_at_once):
            actions.append(action)


def _busy_until(action: Action) -> float:
    # A killed process is busy until it is back: count its recovery as its hold.
    return action.ends_s + (RECOVERY_S if action.kind is ActionKind.KILL else 0.0)


def _fits(candidate: Action, planned: Sequence[Action], most_at_once: int) -> bool:
    in_force = [a for a in planned if _busy_until(a) > candidate.at_s]
    if any(a.target == candidate.target for a in in_force):
        return False
    return len(in_force) < most_at_once


def failover_windows(actions: Sequence[Action]) -> list[tuple[float, float]]:
    """The merged time ranges in which some fault or its recovery was in force."""
    merged: list[tuple[float, float]] = []
    for start, end in sorted(a.window for a in actions):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def inside(windows: Sequence[tuple[float, float]], t: float) -> bool:
    return any(start <= t <= end for start, end in windows)
