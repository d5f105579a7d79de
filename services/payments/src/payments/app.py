from contextlib import AsyncExitStack

from fastapi import FastAPI
from stackkit.connections import open_event_producer, open_postgres
from stackkit.service import ReadinessCheck, create_service_app

from payments.events import TOPICS
from payments.settings import PaymentsSettings


def create_app(settings: PaymentsSettings | None = None) -> FastAPI:
    settings = settings or PaymentsSettings()

    async def open_resources(app: FastAPI, stack: AsyncExitStack) -> dict[str, ReadinessCheck]:
        timeout = settings.startup_timeout_s
        app.state.db, db_ready = await open_postgres(
            stack, settings.database_url, timeout_s=timeout
        )
        app.state.events, kafka_ready = await open_event_producer(
            stack, settings.kafka_bootstrap_servers, TOPICS, timeout_s=timeout
        )
        return {"postgres": db_ready, "kafka": kafka_ready}

    return create_service_app(
        name="payments",
        settings=settings,
        open_resources=open_resources,
        description="Stripe: PaymentIntents with idempotency keys and a state machine.",
    )
