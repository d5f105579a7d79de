"""What an experiment is and how its verdict follows from what it measured: pure, no I/O."""

import math
import operator
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from loadtests.experiments.lab import Lab


class Scale(StrEnum):
    SMALL = "small"
    """Seconds: what ``make test`` runs, to prove the experiment still measures."""
    FULL = "full"
    """Minutes: what the README reports."""


class Outcome(StrEnum):
    CONFIRMED = "CONFIRMED"
    NOT_CONFIRMED = "NOT CONFIRMED"
    ERROR = "ERROR"
    """The experiment could not measure (the stack would not start, a step timed out)."""


Comparison = Literal[">=", "<=", ">", "<"]
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}


@dataclass(frozen=True)
class Check:
    """One threshold of a hypothesis, with what was measured against it."""

    name: str
    measured: float
    comparison: Comparison
    bound: float
    unit: str = ""

    @property
    def holds(self) -> bool:
        return not math.isnan(self.measured) and _COMPARE[self.comparison](
            self.measured, self.bound
        )

    @property
    def margin(self) -> str:
        """How far from the bound, in the direction that matters: ``+12%`` is inside."""
        if math.isnan(self.measured):
            return "not measured"
        if self.bound == 0:
            return f"{self.measured - self.bound:+.3g}{self.unit}"
        room = (self.measured - self.bound) / abs(self.bound)
        inside = room if self.comparison in (">=", ">") else -room
        return f"{inside:+.0%}"

    def describe(self) -> str:
        return (
            f"{self.name}: {_number(self.measured)}{self.unit} {self.comparison} "
            f"{_number(self.bound)}{self.unit} ({'holds' if self.holds else 'fails'}, "
            f"margin {self.margin})"
        )


def _number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if value == int(value) and abs(value) < 1e9:
        return str(int(value))
    return f"{value:.3g}"


@dataclass
class Series:
    """One line of the experiment's plot: (seconds since the start, value)."""

    label: str
    points: list[tuple[float, float]] = field(default_factory=list)
    unit: str = ""


@dataclass
class Findings:
    """What an experiment's run hands back: the figures and the checks made of them."""

    table: list[dict[str, Any]]
    """One row per condition (on/off, before/during/after), the same keys in each."""
    checks: list[Check]
    setup: dict[str, Any] = field(default_factory=dict)
    series: list[Series] = field(default_factory=list)
    bars: dict[str, float] = field(default_factory=dict)
    """A bar chart when a time series does not fit (a figure per condition)."""
    bars_unit: str = ""
    notes: list[str] = field(default_factory=list)


def verdict(checks: Sequence[Check]) -> tuple[Outcome, str]:
    """CONFIRMED when every check holds; a hypothesis that measured nothing cannot be."""
    if not checks:
        return Outcome.ERROR, "the experiment made no check"
    unmeasured = [c.name for c in checks if math.isnan(c.measured)]
    if unmeasured:
        return Outcome.ERROR, f"not measured: {', '.join(unmeasured)}"
    failing = [c for c in checks if not c.holds]
    if failing:
        return Outcome.NOT_CONFIRMED, "; ".join(c.describe() for c in failing)
    return Outcome.CONFIRMED, "; ".join(c.describe() for c in checks)


Run = Callable[["Lab", Scale], Awaitable[Findings]]


@dataclass(frozen=True)
class Experiment:
    """A seed claim, the hypothesis that tests it here, and the run that measures it."""

    name: str
    company: str
    claim: str
    """The reference text's words."""
    hypothesis: str
    """Thresholds in words; the checks the run returns are their numbers."""
    action: str
    """The fault, design switch or scale change the run makes."""
    run: Run
    kills: bool = False
    """It kills, pauses or stops processes: it needs a supervised stack (the runner's own)."""


@dataclass
class Result:
    experiment: Experiment
    scale: Scale
    outcome: Outcome
    reason: str
    findings: Findings | None
    started_at: str
    duration_s: float
    machine: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        findings = self.findings
        return {
            "name": self.experiment.name,
            "company": self.experiment.company,
            "claim": self.experiment.claim,
            "hypothesis": self.experiment.hypothesis,
            "action": self.experiment.action,
            "scale": str(self.scale),
            "outcome": str(self.outcome),
            "reason": self.reason,
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 2),
            "machine": self.machine,
            "setup": findings.setup if findings else {},
            "table": findings.table if findings else [],
            "checks": [
                {
                    "name": c.name,
                    "measured": None if math.isnan(c.measured) else c.measured,
                    "comparison": c.comparison,
                    "bound": c.bound,
                    "unit": c.unit,
                    "holds": c.holds,
                    "margin": c.margin,
                }
                for c in (findings.checks if findings else [])
            ],
            "notes": findings.notes if findings else [],
        }


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``; NaN for none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
    return ordered[rank]


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when the denominator is 0 (nothing to compare with)."""
    return numerator / denominator if denominator else math.nan


Buckets = list[tuple[float, float]]
"""A histogram as (upper bound, cumulative count), ``inf`` last, as Prometheus exposes it."""


def bucket_delta(after: Buckets, before: Buckets) -> Buckets:
    """The observations made between two scrapes of one histogram."""
    earlier = dict(before)
    return [(le, count - earlier.get(le, 0.0)) for le, count in after]


def histogram_quantile(q: float, buckets: Buckets) -> float:
    """PromQL's ``histogram_quantile``: linear inside the bucket the rank falls in; NaN when
    empty; the highest finite bound when the rank is in the ``+Inf`` bucket."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return math.nan
    rank = q * ordered[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for le, count in ordered:
        if count >= rank:
            if math.isinf(le):
                return lower_bound
            if count == lower_count:
                return le
            return lower_bound + (le - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = le, count
    return lower_bound
