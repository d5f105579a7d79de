"""Payments' decision metrics, on the registry of the process that decides (the API, and the
worker when its reaper or reconciler finishes an authorization): what the acquirers answered,
how many approvals an intent ended with (a double charge is a count above 1), what the
idempotency layer did with each keyed request, and which transactions were retried."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram

from payments.domain.cards import SOFT_DECLINES
from payments.domain.routing import Attempt, AttemptResult
from stackkit.transactions import Connection

T = TypeVar("T")

PHASES = (
    "create_intent",
    "update_intent",
    "confirm",
    "next_attempt",
    "approve",
    "decline",
    "capture",
    "cancel",
    "refund_reserve",
    "refund_settle",
)
"""The SERIALIZABLE phases of :mod:`payments.usecases`, the ``operation`` of their retries."""


class AuthorizationOutcome(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    SOFT_DECLINED = "soft_declined"
    ERROR = "error"
    """The acquirer refused the connection or failed (a 5xx): it never decided."""
    TIMEOUT = "timeout"
    """No answer in time: reconciled afterwards, the outcome still unknown here."""


class IdempotencyOutcome(StrEnum):
    REPLAYED = "replayed"
    CONFLICT = "conflict"
    """The key was used with other parameters (a 400)."""
    IN_PROGRESS = "in_progress"
    """Another request holds the key (a 409)."""
    NEW = "new"
    """The request runs: a first use of the key, or one resuming where an earlier stopped."""


def authorization_outcome(result: Attempt) -> AuthorizationOutcome:
    """What one authorization call at an acquirer came to."""
    if result.result is AttemptResult.APPROVED:
        return AuthorizationOutcome.APPROVED
    if result.result is AttemptResult.TIMED_OUT:
        return AuthorizationOutcome.TIMEOUT
    if result.result is AttemptResult.UNREACHED:
        return AuthorizationOutcome.ERROR
    if result.decline_code in SOFT_DECLINES:
        return AuthorizationOutcome.SOFT_DECLINED
    return AuthorizationOutcome.DECLINED


@dataclass
class PaymentsMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.authorizations = Counter(
            "payments_authorizations",
            "Authorization calls at an acquirer, by what it answered",
            ["acquirer", "outcome", "brand", "region"],
            registry=self.registry,
        )
        self.intent_authorizations = Histogram(
            "payments_intent_authorizations",
            "Approved authorizations of an intent when it reaches a final state (succeeded or"
            " canceled); more than 1 is a double charge",
            buckets=(0, 1, 2, 3, 5),
            registry=self.registry,
        )
        self.idempotent_requests = Counter(
            "payments_idempotent_requests",
            "Requests with an Idempotency-Key, by what the idempotency layer decided",
            ["outcome"],
            registry=self.registry,
        )
        self.serialization_retries = Counter(
            "payments_serialization_retries",
            "SERIALIZABLE transactions run again after a serialization failure or deadlock,"
            " by the use case's phase",
            ["operation"],
            registry=self.registry,
        )
        # Every series that has a fixed label set from the start, so a rate exists before the
        # first event.
        for outcome in IdempotencyOutcome:
            self.idempotent_requests.labels(outcome.value)
        for phase in PHASES:
            self.serialization_retries.labels(phase)

    def authorized(self, result: Attempt, brand: str, region: str) -> None:
        outcome = authorization_outcome(result)
        self.authorizations.labels(result.acquirer, outcome.value, brand, region).inc()

    def idempotency(self, outcome: IdempotencyOutcome) -> None:
        self.idempotent_requests.labels(outcome.value).inc()

    def intent_final(self, approved: int) -> None:
        self.intent_authorizations.observe(approved)

    def counting_retries(
        self, operation: str, work: Callable[[Connection], Awaitable[T]]
    ) -> Callable[[Connection], Awaitable[T]]:
        """``work`` for :func:`stackkit.transactions.serializable`, counting every run after
        the first as a retry of ``operation`` (serializable runs it again only on conflict)."""
        assert operation in PHASES, operation
        runs = 0
        retries = self.serialization_retries.labels(operation)

        async def counted(conn: Connection) -> T:
            nonlocal runs
            runs += 1
            if runs > 1:
                retries.inc()
            return await work(conn)

        return counted
