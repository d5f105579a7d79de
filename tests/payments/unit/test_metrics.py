"""Payments' decision metrics without servers: what an acquirer's answer counts as, and that a
transaction's runs after the first count as its retries."""

from typing import Any, cast

import pytest

from payments.domain.routing import Attempt, AttemptResult
from payments.metrics import PHASES, AuthorizationOutcome, PaymentsMetrics, authorization_outcome


@pytest.mark.parametrize(
    ("result", "decline_code", "outcome"),
    [
        (AttemptResult.APPROVED, None, AuthorizationOutcome.APPROVED),
        (AttemptResult.DECLINED, "insufficient_funds", AuthorizationOutcome.DECLINED),
        (AttemptResult.DECLINED, "generic_decline", AuthorizationOutcome.DECLINED),
        (AttemptResult.DECLINED, "try_again_later", AuthorizationOutcome.SOFT_DECLINED),
        (AttemptResult.DECLINED, "processing_error", AuthorizationOutcome.SOFT_DECLINED),
        (AttemptResult.TIMED_OUT, None, AuthorizationOutcome.TIMEOUT),
        (AttemptResult.UNREACHED, None, AuthorizationOutcome.ERROR),
    ],
)
def test_an_acquirers_answer_counts_as(
    result: AttemptResult, decline_code: str | None, outcome: AuthorizationOutcome
) -> None:
    assert authorization_outcome(Attempt("acquirer-a", result, decline_code)) is outcome


def value(metrics: PaymentsMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


async def test_runs_after_the_first_are_retries_of_their_phase() -> None:
    metrics = PaymentsMetrics()
    assert all(
        value(metrics, "payments_serialization_retries_total", operation=p) == 0 for p in PHASES
    )
    runs: list[Any] = []

    async def work(conn: Any) -> str:
        runs.append(conn)
        return "done"

    counted = metrics.counting_retries("confirm", work)
    conn = cast(Any, object())  # never used: the work here is a stand-in for a transaction's
    assert [await counted(conn) for _ in range(3)] == ["done"] * 3
    assert value(metrics, "payments_serialization_retries_total", operation="confirm") == 2
    assert value(metrics, "payments_serialization_retries_total", operation="approve") == 0


def test_approvals_per_final_intent_fall_in_their_buckets() -> None:
    metrics = PaymentsMetrics()
    for approvals in (0, 1, 1, 2):
        metrics.intent_final(approvals)
    bucket = "payments_intent_authorizations_bucket"
    assert value(metrics, bucket, le="0.0") == 1
    assert value(metrics, bucket, le="1.0") == 3
    assert value(metrics, bucket, le="2.0") == 4, "a double charge is above le=1"
