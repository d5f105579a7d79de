"""Payments' decision metrics on the running processes, read from the API process's /metrics
after the behaviour that moves each: authorizations approved, declined and soft-declined (by
acquirer, brand, region); the approvals an intent ends with (one per succeeded intent, none for
a canceled one, never two under concurrent confirms); what the idempotency layer decided
(a replay, a key reused with other parameters, a key still in flight, a new key); and the
SERIALIZABLE phases run again when concurrent confirms of one intent collide."""

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack.stack import NativeStack
from devstack.topology import ACQUIRERS
from tests.payments.integration.conftest import (
    DEFAULT_PROFILE,
    Merchant,
    new_merchant,
    set_profile,
)
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

AUTHORIZATIONS = "payments_authorizations_total"
PER_INTENT = "payments_intent_authorizations"
IDEMPOTENT = "payments_idempotent_requests_total"
RETRIES = "payments_serialization_retries_total"


def samples(url: str, name: str, labels: dict[str, str] | None = None) -> float:
    """The sum of the process's samples called ``name`` whose labels include ``labels``."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        float(s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in (labels or {}).items())
    )


def buckets(url: str) -> dict[float, float]:
    """``payments_intent_authorizations``: upper bound -> cumulative count."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {
        float(s.labels["le"]): float(s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == f"{PER_INTENT}_bucket"
    }


@pytest.fixture
def api(payments_stack: NativeStack) -> str:
    """The payments API process's own address (its /metrics is its own)."""
    return payments_stack.url("payments")


@pytest.fixture
def merchant(payments_stack: NativeStack) -> Merchant:
    return new_merchant(payments_stack, "metrics", direct=True)


@pytest.fixture
def slow_acquirers(payments_stack: NativeStack) -> Iterator[None]:
    """Both acquirers answering after a second (within payments' 2 s timeout)."""
    urls = [payments_stack.url(name) for name in ACQUIRERS]
    for url in urls:
        set_profile(url, latency_ms=1000)
    yield
    for url in urls:
        httpx.put(f"{url}/profile", json=DEFAULT_PROFILE, timeout=10).raise_for_status()


def pay(client: httpx.Client, payment_method: str, **extra: str) -> httpx.Response:
    data = {"amount": "1500", "currency": "usd", "payment_method": payment_method, **extra}
    return client.post("/v1/payment_intents", data=data)


def test_authorizations_by_outcome_and_approvals_per_final_intent(
    api: str, merchant: Merchant
) -> None:
    visa_us = {"brand": "visa", "region": "us"}
    outcomes = ("approved", "declined", "soft_declined")
    before = {o: samples(api, AUTHORIZATIONS, {"outcome": o, **visa_us}) for o in outcomes}
    final_before = buckets(api)

    with merchant.http() as client:
        approved = pay(client, "pm_card_visa", confirm="true")
        assert approved.status_code == 200 and approved.json()["status"] == "succeeded"
        declined = pay(client, "pm_card_chargeDeclined", confirm="true")
        assert declined.status_code == 402, declined.text
        # A soft decline is retried at the other acquirer (smart retries): two calls.
        soft = pay(client, "pm_card_chargeDeclinedTryAgainLater", confirm="true")
        assert soft.status_code == 402, soft.text
        # The declined intent is not final until it is canceled, with no approval.
        intent = declined.json()["error"]["payment_intent"]["id"]
        canceled = client.post(f"/v1/payment_intents/{intent}/cancel")
        assert canceled.status_code == 200, canceled.text

    after = {o: samples(api, AUTHORIZATIONS, {"outcome": o, **visa_us}) for o in outcomes}
    assert after["approved"] - before["approved"] == 1
    assert after["declined"] - before["declined"] == 1
    assert after["soft_declined"] - before["soft_declined"] == len(ACQUIRERS)
    by_acquirer = sum(samples(api, AUTHORIZATIONS, {"acquirer": name}) for name in ACQUIRERS)
    assert by_acquirer == samples(api, AUTHORIZATIONS), "every call names its acquirer"

    final = buckets(api)
    grew = {le: final[le] - final_before.get(le, 0.0) for le in final}
    # One intent succeeded with one approval, one was canceled with none; none charged twice.
    assert grew[0.0] == 1 and grew[1.0] == 2 and grew[float("inf")] == 2, grew


def test_what_the_idempotency_layer_decided(
    api: str, merchant: Merchant, slow_acquirers: None
) -> None:
    outcomes = ("new", "replayed", "conflict", "in_progress")
    before = {o: samples(api, IDEMPOTENT, {"outcome": o}) for o in outcomes}
    key = f"metrics-{uuid.uuid4().hex}"
    with merchant.http() as client:
        first = pay(client, "pm_card_visa", confirm="true", description="x")
        assert first.status_code == 200  # no key: not the idempotency layer's
        made = client.post(
            "/v1/payment_intents",
            data={"amount": "1500", "currency": "usd"},
            headers={"idempotency-key": key},
        )
        replay = client.post(
            "/v1/payment_intents",
            data={"amount": "1500", "currency": "usd"},
            headers={"idempotency-key": key},
        )
        assert replay.status_code == 200 and replay.json()["id"] == made.json()["id"]
        reused = client.post(
            "/v1/payment_intents",
            data={"amount": "2500", "currency": "usd"},
            headers={"idempotency-key": key},
        )
        assert reused.status_code == 400, reused.text

    async def twice_at_once() -> list[int]:
        # Two sends of one keyed payment while the acquirers take a second: one of them finds
        # the key held by the other.
        headers = {"authorization": f"Bearer {merchant.secret_key}", "idempotency-key": key + "b"}
        data = {"amount": "1500", "currency": "usd", "payment_method": "pm_card_visa"}
        async with httpx.AsyncClient(base_url=merchant.base_url, timeout=30) as client:
            answers = await asyncio.gather(
                *(
                    client.post("/v1/payment_intents", data={**data, "confirm": "true"},
                                headers=headers)
                    for _ in range(2)
                )
            )  # fmt: skip
        return sorted(a.status_code for a in answers)

    assert asyncio.run(twice_at_once()) == [200, 409]
    after = {o: samples(api, IDEMPOTENT, {"outcome": o}) for o in outcomes}
    grew = {o: after[o] - before[o] for o in outcomes}
    assert grew == {"new": 2, "replayed": 1, "conflict": 1, "in_progress": 1}, grew


async def test_concurrent_confirms_collide_and_are_retried_never_charged_twice(
    api: str, merchant: Merchant
) -> None:
    retried = ("confirm", "approve")
    retries_before = sum(samples(api, RETRIES, {"operation": op}) for op in retried)
    headers = {"authorization": f"Bearer {merchant.secret_key}"}
    rounds: list[int] = []

    async def confirms_collided() -> bool:
        async with httpx.AsyncClient(base_url=merchant.base_url, headers=headers, timeout=30) as c:
            created = await c.post(
                "/v1/payment_intents",
                data={"amount": "1500", "currency": "usd", "payment_method": "pm_card_visa"},
            )
            intent = created.json()["id"]
            # The same intent confirmed eight times at once: each confirm locks the intent's
            # row in a SERIALIZABLE transaction, so the ones that waited for it must run again.
            answers = await asyncio.gather(
                *(c.post(f"/v1/payment_intents/{intent}/confirm") for _ in range(8))
            )
            final = await c.get(f"/v1/payment_intents/{intent}")
        assert final.json()["status"] == "succeeded"
        assert any(a.status_code == 200 for a in answers), [a.text for a in answers]
        rounds.append(1)
        retries = sum(samples(api, RETRIES, {"operation": op}) for op in retried)
        return retries > retries_before

    final_before = buckets(api)
    await eventually(confirms_collided, timeout_s=60, what="a serialization retry of a confirm")
    final = buckets(api)
    # Each intent reached its final state once, with one approval.
    assert final[1.0] - final_before.get(1.0, 0.0) == len(rounds)
    assert final[float("inf")] - final_before.get(float("inf"), 0.0) == len(rounds)
