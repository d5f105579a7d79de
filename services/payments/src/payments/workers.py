"""The payments worker: the reaper (finishes requests abandoned between phases), the outbox
relay (publishes committed events to Kafka ``payments.events``) and webhook delivery."""

import json
from contextlib import AsyncExitStack

import asyncpg
import httpx
from fastapi import FastAPI

from payments.events import PAYMENT_EVENTS, TOPICS
from payments.settings import PaymentsSettings
from payments.webhooks import WEBHOOK_GROUP, plan_deliveries, send_due
from payments.wiring import open_payments
from stackkit.connections import open_backends
from stackkit.consumer import ConsumerConfig, EventConsumer, run_in_background
from stackkit.events import Event
from stackkit.inbox import PostgresInbox
from stackkit.kafka import EventProducer
from stackkit.logs import get_logger
from stackkit.periodic import run_every
from stackkit.service import ReadinessCheck, create_service_app

log = get_logger(__name__)
RELAY_BATCH = 200


async def relay_outbox(pool: "asyncpg.Pool[asyncpg.Record]", producer: EventProducer) -> int:
    """Publish unpublished events in commit order; mark them only after Kafka acknowledged."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id, seq, merchant_id, type, created, data FROM events "
            "WHERE published_at IS NULL ORDER BY seq LIMIT $1",
            RELAY_BATCH,
        )
    for row in rows:
        data = json.loads(row["data"])
        obj = data.get("object", {})
        event = Event(
            id=row["id"],
            type=f"payments.{row['type']}",
            source="payments",
            subject=str(obj.get("payment_intent") or obj.get("id") or row["merchant_id"]),
            data={"merchant_id": row["merchant_id"], "created": row["created"], **data},
        )
        await producer.publish(PAYMENT_EVENTS.name, event)
    if rows:
        async with pool.acquire() as conn:
            await conn.execute(
                "UPDATE events SET published_at = now() WHERE id = ANY($1::text[])",
                [r["id"] for r in rows],
            )
    return len(rows)


def create_worker_app(settings: PaymentsSettings | None = None) -> FastAPI:
    settings = settings or PaymentsSettings()

    async def open_resources(app: FastAPI, stack: AsyncExitStack) -> dict[str, ReadinessCheck]:
        checks = await open_backends(app, stack, settings, topics=TOPICS)
        payments = await open_payments(stack, settings, app.state.db)
        inbox = PostgresInbox(app.state.db)
        await inbox.create_table()
        consumer = EventConsumer(
            ConsumerConfig(
                bootstrap_servers=settings.kafka_bootstrap_servers,
                group_id=WEBHOOK_GROUP,
                topics=(PAYMENT_EVENTS.name,),
                startup_timeout_s=settings.startup_timeout_s,
            ),
            plan_deliveries,
            inbox,
            dead_letters=app.state.events,
        )
        checks["webhook_consumer"] = run_in_background(stack, consumer)
        http = httpx.AsyncClient()
        stack.push_async_callback(http.aclose)
        interval = settings.worker_interval_s
        run_every(stack, interval, payments.complete_abandoned, "reaper")
        run_every(stack, interval, payments.reconcile_stuck, "reconciler")
        run_every(stack, interval, lambda: relay_outbox(app.state.db, app.state.events), "relay")
        run_every(stack, interval, lambda: send_due(app.state.db, http), "webhooks")
        run_every(stack, 60.0, payments.expire_keys, "key-expiry")
        return checks

    return create_service_app(
        name="payments-worker",
        settings=settings,
        open_resources=open_resources,
        description="Stripe: the reaper, the outbox relay and webhook delivery.",
    )
