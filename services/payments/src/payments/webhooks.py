"""Webhook delivery: events from Kafka become delivery rows (once, through the inbox), and a
periodic sender POSTs them with Stripe's signature, retrying with backoff."""

import json
import time

import asyncpg
import httpx

from payments import objects
from payments.domain.webhooks import next_delay_s, signature_header, wants
from stackkit.events import Event
from stackkit.inbox import PostgresTx
from stackkit.logs import get_logger

log = get_logger(__name__)
WEBHOOK_GROUP = "payments-webhooks"
SEND_BATCH = 50


async def plan_deliveries(event: Event, tx: PostgresTx) -> None:
    """Consumer handler: one pending delivery per endpoint that wants this event."""
    row = await tx.fetchrow("SELECT merchant_id, type FROM events WHERE id = $1", event.id)
    if row is None:
        log.warning("webhook_event_missing", event_id=event.id)
        return
    endpoints = await tx.fetch(
        "SELECT id, enabled_events FROM webhook_endpoints WHERE merchant_id = $1",
        row["merchant_id"],
    )
    for endpoint in endpoints:
        if wants(json.loads(endpoint["enabled_events"]), row["type"]):
            await tx.execute(
                "INSERT INTO webhook_deliveries (endpoint_id, event_id) VALUES ($1, $2) "
                "ON CONFLICT DO NOTHING",
                endpoint["id"],
                event.id,
            )


async def send_due(pool: "asyncpg.Pool[asyncpg.Record]", http: httpx.AsyncClient) -> int:
    """Deliver what is due; each failure pushes the delivery back by the backoff schedule."""
    async with pool.acquire() as conn:
        due = await conn.fetch(
            "SELECT d.id, d.attempts, e.url, e.secret, v.* FROM webhook_deliveries d "
            "JOIN webhook_endpoints e ON e.id = d.endpoint_id JOIN events v ON v.id = d.event_id "
            "WHERE d.status = 'pending' AND d.next_attempt_at <= now() ORDER BY d.id LIMIT $1",
            SEND_BATCH,
        )
    for delivery in due:
        event = dict(delivery)
        event["data"] = json.loads(event["data"])
        payload = json.dumps(objects.event(event)).encode()
        headers = {
            "content-type": "application/json",
            "stripe-signature": signature_header(payload, delivery["secret"], int(time.time())),
        }
        error = None
        try:
            response = await http.post(
                delivery["url"], content=payload, headers=headers, timeout=10
            )
            if response.status_code >= 300:
                error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = repr(exc)
        await _record(pool, delivery["id"], delivery["attempts"] + 1, error)
    return len(due)


async def _record(
    pool: "asyncpg.Pool[asyncpg.Record]", delivery_id: int, attempts: int, error: str | None
) -> None:
    async with pool.acquire() as conn:
        if error is None:
            await conn.execute(
                "UPDATE webhook_deliveries SET status = 'delivered', attempts = $2 WHERE id = $1",
                delivery_id,
                attempts,
            )
            return
        delay = next_delay_s(attempts)
        await conn.execute(
            "UPDATE webhook_deliveries SET attempts = $2, last_error = $3, status = $4, "
            "next_attempt_at = now() + make_interval(secs => $5) WHERE id = $1",
            delivery_id,
            attempts,
            error,
            "pending" if delay is not None else "failed",
            delay or 0.0,
        )
