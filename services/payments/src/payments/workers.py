"""The payments worker: the reaper (finishes requests abandoned between phases), the outbox
relay (publishes committed events to Kafka ``payments.events``) and webhook delivery."""

from contextlib import AsyncExitStack

from fastapi import FastAPI

from payments.domain.webhooks import Backoff
from payments.events import PAYMENT_EVENTS, TOPICS
from payments.settings import PaymentsSettings
from payments.webhooks import (
    WEBHOOK_GROUP,
    WebhookMetrics,
    WebhookSender,
    plan_deliveries,
    webhook_client,
)
from payments.wiring import open_payments
from stackkit.consumer import consume
from stackkit.inbox import PostgresInbox
from stackkit.lifespan import backends
from stackkit.logs import get_logger
from stackkit.outbox import start_relay
from stackkit.periodic import run_every
from stackkit.service import ReadinessCheck, create_service_app

log = get_logger(__name__)


async def open_worker(app: FastAPI, stack: AsyncExitStack) -> dict[str, ReadinessCheck]:
    """The webhook consumer and sender, the reaper, the reconciler, the outbox relay and the
    expiry of idempotency keys."""
    settings: PaymentsSettings = app.state.settings
    payments = await open_payments(stack, settings, app.state.db, app.state.metrics.registry)
    inbox = PostgresInbox(app.state.db)
    await inbox.create_table()
    webhook_consumer = consume(
        stack,
        settings=settings,
        group_id=WEBHOOK_GROUP,
        topics=(PAYMENT_EVENTS.name,),
        handler=plan_deliveries,
        inbox=inbox,
        dead_letters=app.state.events,
    )
    http = webhook_client(settings.webhook_concurrency, settings.webhook_timeout_s)
    stack.push_async_callback(http.aclose)
    sender = WebhookSender(
        app.state.db,
        http,
        timeout_s=settings.webhook_timeout_s,
        backoff=Backoff(max_s=settings.webhook_max_backoff_s),
        concurrency=settings.webhook_concurrency,
        allow_private=settings.webhook_private_targets_allowed,
        metrics=WebhookMetrics(app.state.metrics.registry),
    )
    stack.push_async_callback(sender.close)
    interval = settings.worker_interval_s
    run_every(stack, interval, payments.complete_abandoned, "reaper")
    run_every(stack, interval, payments.reconcile_stuck, "reconciler")
    # Kicked by the API processes' commits (NOTIFY), swept every interval for leftovers.
    app.state.relay = start_relay(stack, app.state.db, app.state.events, idle_s=interval)
    run_every(stack, interval, sender.tick, "webhooks")
    run_every(stack, 60.0, payments.expire_keys, "key-expiry")
    return {"webhook_consumer": webhook_consumer}


def create_worker_app(settings: PaymentsSettings | None = None) -> FastAPI:
    return create_service_app(
        name="payments-worker",
        settings=settings or PaymentsSettings(),
        lifespan_parts=(backends(TOPICS), open_worker),
        description="Stripe: the reaper, the outbox relay and webhook delivery.",
    )
