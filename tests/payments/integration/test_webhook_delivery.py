"""Webhook delivery by the real payments and payments-worker processes to real HTTP receivers:
exactly once while the receiver is healthy, everything after it comes back, in creation order
per endpoint, and one merchant's dead or slow endpoint never delays another merchant."""

import time
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from devstack.processes import free_port
from devstack.stack import NativeStack
from tests.payments.integration.conftest import Merchant, new_merchant
from tests.payments.integration.receivers import Receiver
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

BOTH = ["payment_intent.created", "payment_intent.succeeded"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.release()
    hook.stop()


@pytest.fixture
async def db(payments_stack: NativeStack) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(payments_stack.servers.postgres.url("payments"))
    yield conn
    await conn.close()


def _endpoint(merchant: Merchant, url: str) -> tuple[str, str]:
    endpoint = merchant.client.v1.webhook_endpoints.create(
        params={
            "url": url,
            "enabled_events": ["payment_intent.created", "payment_intent.succeeded"],
        }
    )
    assert endpoint.secret is not None
    return endpoint.id, endpoint.secret


def _pay(merchant: Merchant, amount: int) -> str:
    intent = merchant.client.v1.payment_intents.create(
        params={"amount": amount, "currency": "usd", "payment_method": "pm_card_visa",
                "confirm": True}
    )  # fmt: skip
    assert intent.status == "succeeded"
    return intent.id


def _received(receiver: Receiver) -> str:
    ids = receiver.event_ids()
    return f"the receiver got {len(ids)} requests for {len(set(ids))} events"


async def _deliveries(db: asyncpg.Connection, endpoint_id: str) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT d.event_id, d.status, d.attempts, d.last_error FROM webhook_deliveries d "
        "JOIN events v ON v.id = d.event_id WHERE d.endpoint_id = $1 ORDER BY v.seq",
        endpoint_id,
    )


async def _all_delivered(db: asyncpg.Connection, endpoint_id: str, count: int) -> bool:
    rows = await _deliveries(db, endpoint_id)
    return len(rows) == count and all(row["status"] == "delivered" for row in rows)


async def test_created_and_succeeded_arrive_exactly_once_in_order(
    payments_stack: NativeStack, receiver: Receiver, db: asyncpg.Connection
) -> None:
    merchant = new_merchant(payments_stack, "webhooks-once", direct=True)
    endpoint_id, secret = _endpoint(merchant, receiver.url)
    paid = [_pay(merchant, 1000 + n) for n in range(3)]

    await eventually(
        lambda: _all_delivered(db, endpoint_id, 6),
        timeout_s=60,
        what=lambda: f"6 deliveries recorded as delivered ({_received(receiver)})",
    )
    # Every delivery is recorded as delivered, so nothing else can be sent: what arrived is all.
    events = receiver.accepted(secret)
    ids = [event.id for event in events]
    assert len(ids) == 6 and len(set(ids)) == 6, f"each event exactly once, got {ids}"
    assert sorted((e.data.object["id"], e.type) for e in events) == sorted(
        (intent, kind) for intent in paid for kind in BOTH
    )
    created_order = [row["event_id"] for row in await _deliveries(db, endpoint_id)]
    assert ids == created_order, "one endpoint gets its events in the order they were created"
    assert {row["attempts"] for row in await _deliveries(db, endpoint_id)} == {1}


async def test_a_receiver_that_fails_then_refuses_then_returns_gets_everything(
    payments_stack: NativeStack, receiver: Receiver, db: asyncpg.Connection
) -> None:
    merchant = new_merchant(payments_stack, "webhooks-outage", direct=True)
    endpoint_id, secret = _endpoint(merchant, receiver.url)
    receiver.status = 500
    first = _pay(merchant, 2100)

    async def attempted(times: int) -> bool:
        rows = await _deliveries(db, endpoint_id)
        return bool(rows) and rows[0]["attempts"] >= times

    await eventually(lambda: attempted(2), timeout_s=60, what="two failed tries (HTTP 500)")
    receiver.stop()  # now connections are refused
    await eventually(lambda: attempted(3), timeout_s=60, what="a try against a closed port")
    refused = (await _deliveries(db, endpoint_id))[0]
    assert refused["status"] == "pending" and "Connect" in str(refused["last_error"])
    second = _pay(merchant, 2200)  # queued behind the failing head while the receiver is down
    receiver.status = 200
    receiver.start()

    await eventually(lambda: _all_delivered(db, endpoint_id, 4), timeout_s=60,
                     what="every event delivered once the receiver is back")  # fmt: skip
    events = receiver.accepted(secret)
    assert [(e.data.object["id"], e.type) for e in events] == [
        (first, "payment_intent.created"),
        (first, "payment_intent.succeeded"),
        (second, "payment_intent.created"),
        (second, "payment_intent.succeeded"),
    ], "everything, once each, in creation order"
    failed_tries = [call for call in receiver.calls if call.status == 500]
    assert {call.body for call in failed_tries} == {receiver.calls[0].body}, (
        "only the oldest event was retried while failing: the rest waited behind it"
    )


async def test_a_dead_and_a_hanging_endpoint_of_one_merchant_do_not_delay_another(
    payments_stack: NativeStack, db: asyncpg.Connection
) -> None:
    hanging, healthy = Receiver(), Receiver()
    hanging.holding.set()
    try:
        merchant_a = new_merchant(payments_stack, "webhooks-dead", direct=True)
        hanging_id, _ = _endpoint(merchant_a, hanging.url)
        dead_id, _ = _endpoint(merchant_a, f"http://127.0.0.1:{free_port()}/nobody")
        for n in range(5):
            _pay(merchant_a, 3000 + n)

        async def a_request_is_held() -> bool:
            return hanging.in_flight >= 1

        await eventually(a_request_is_held, timeout_s=60, what="the worker stuck on A's receiver")
        merchant_b = new_merchant(payments_stack, "webhooks-healthy", direct=True)
        healthy_id, secret = _endpoint(merchant_b, healthy.url)
        started = time.monotonic()
        paid = _pay(merchant_b, 3900)
        await eventually(lambda: _all_delivered(db, healthy_id, 2), timeout_s=60,
                         what="merchant B's deliveries")  # fmt: skip
        took_s = time.monotonic() - started
        # A's held request has not even timed out yet (that would count an attempt): B was
        # served beside it, not after it.
        held = await _deliveries(db, hanging_id)
        assert held[0]["attempts"] == 0 and hanging.in_flight >= 1, (
            f"B waited for A's slow receiver ({took_s:.1f}s)"
        )
        assert [e.data.object["id"] for e in healthy.accepted(secret)] == [paid, paid]
        dead = await _deliveries(db, dead_id)
        assert dead[0]["attempts"] >= 1 and dead[0]["status"] == "pending"
        assert all(row["attempts"] == 0 for row in dead[1:]), "A's later events wait in order"
        print(f"merchant B delivered in {took_s:.2f}s beside A's held and dead endpoints")
    finally:
        for hook in (hanging, healthy):
            hook.release()
            hook.stop()
