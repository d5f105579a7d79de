"""Dispatch's own metrics beside the search's (``dispatch.locations.SearchMetrics``): how long a
trip's decision takes, and how often this worker's share of the areas moves."""

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram

from dispatch.domain.ownership import RingChange
from dispatch.domain.trips import DecisionOutcome
from stackkit.metrics import LATENCY_BUCKETS


@dataclass
class DispatchMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.decision_seconds = Histogram(
            "dispatch_decision_seconds",
            "A trip request from its arrival at the first dispatch worker to the offer made"
            " (or to no driver), forwarding to the area's owner included",
            ["outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.ownership_changes = Counter(
            "dispatch_area_ownership_changes",
            "Changes of the areas this worker owns, by the ring change that moved them",
            ["reason"],
            registry=self.registry,
        )
        # Every series from the start, so that a rate over them exists before the first event.
        for outcome in DecisionOutcome:
            self.decision_seconds.labels(outcome.value)
        for change in RingChange:
            self.ownership_changes.labels(change.value)

    def decided(self, outcome: DecisionOutcome, seconds: float) -> None:
        self.decision_seconds.labels(outcome.value).observe(seconds)

    def ownership_changed(self, change: RingChange) -> None:
        self.ownership_changes.labels(change.value).inc()
