"""In-process webhook senders against real Postgres and real HTTP receivers: two workers never
send one event twice or out of order, and a hung name lookup is bounded like a hung request."""

import asyncio
import json
import time
import uuid

import asyncpg
import pytest

from payments.webhooks import WebhookSender, webhook_client
from tests.payments.integration.conftest import pending_delivery
from tests.payments.integration.receivers import Receiver
from tests.waiting import eventually

pytestmark = pytest.mark.integration


async def _endpoint_with_events(
    pool: "asyncpg.Pool[asyncpg.Record]", url: str, count: int
) -> list[str]:
    """An endpoint at ``url`` with ``count`` pending deliveries; the event ids in order."""
    first = await pending_delivery(pool, url)
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT d.endpoint_id, e.merchant_id, d.event_id FROM webhook_deliveries d "
            "JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = $1",
            first,
        )
        assert row is not None
        endpoint, merchant, event = row["endpoint_id"], row["merchant_id"], row["event_id"]
        ids = [event]
        for _ in range(count - 1):
            event = f"evt_{uuid.uuid4().hex}"
            await conn.execute(
                "INSERT INTO events (id, merchant_id, type, created, data) "
                "VALUES ($1, $2, 'payment_intent.succeeded', 0, '{\"object\": {}}')",
                event,
                merchant,
            )
            await conn.execute(
                "INSERT INTO webhook_deliveries (endpoint_id, event_id) VALUES ($1, $2)",
                endpoint,
                event,
            )
            ids.append(event)
    return ids


async def test_two_workers_deliver_every_event_once_in_order_per_endpoint(
    pool: "asyncpg.Pool[asyncpg.Record]",
) -> None:
    receivers = [Receiver() for _ in range(4)]
    expected = {r.port: await _endpoint_with_events(pool, r.url, 15) for r in receivers}
    clients = [webhook_client(8, 5.0) for _ in range(2)]
    workers = [WebhookSender(pool, http, timeout_s=5.0, allow_private=True) for http in clients]
    wanted = [event for events in expected.values() for event in events]

    async def all_delivered() -> bool:
        await asyncio.gather(*(worker.tick() for worker in workers))
        delivered = await pool.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE event_id = ANY($1) "
            "AND status = 'delivered'",
            wanted,
        )
        return bool(delivered == len(wanted))

    try:
        await eventually(all_delivered, timeout_s=60, what="60 deliveries by two workers")
        for receiver in receivers:
            got = [json.loads(call.body)["id"] for call in receiver.calls]
            assert got == expected[receiver.port], "once each, in creation order"
        counted = [w.metrics.registry.get_sample_value(
            "payments_webhook_deliveries_total", {"outcome": "delivered"}) or 0
            for w in workers]  # fmt: skip
        assert sum(counted) == len(wanted)
    finally:
        for worker in workers:
            await worker.close()
        for http in clients:
            await http.aclose()
        for receiver in receivers:
            receiver.stop()


async def test_a_hung_name_lookup_is_bounded_by_the_request_deadline(
    pool: "asyncpg.Pool[asyncpg.Record]",
) -> None:
    async def hangs(host: str, port: int) -> list[str]:
        await asyncio.sleep(3600)
        return []

    http = webhook_client(2, 0.5)
    sender = WebhookSender(pool, http, timeout_s=0.5, allow_private=False, resolver=hangs)
    try:
        delivery = await pending_delivery(pool, "https://hooks.slow-dns.test/in")
        started = time.monotonic()
        await sender.tick()
        await sender.wait_idle()
        took_s = time.monotonic() - started
        row = await pool.fetchrow("SELECT * FROM webhook_deliveries WHERE id = $1", delivery)
        assert row is not None and row["attempts"] == 1
        assert row["last_error"] == "timed out after 0.5s" and took_s < 5
    finally:
        await sender.close()
        await http.aclose()
