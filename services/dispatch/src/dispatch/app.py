from contextlib import AsyncExitStack

from fastapi import FastAPI
from stackkit.connections import open_event_producer, open_postgres, open_redis
from stackkit.service import ReadinessCheck, create_service_app

from dispatch.events import TOPICS
from dispatch.settings import DispatchSettings


def create_app(settings: DispatchSettings | None = None) -> FastAPI:
    settings = settings or DispatchSettings()

    async def open_resources(app: FastAPI, stack: AsyncExitStack) -> dict[str, ReadinessCheck]:
        timeout = settings.startup_timeout_s
        app.state.db, db_ready = await open_postgres(
            stack, settings.database_url, timeout_s=timeout
        )
        app.state.redis, redis_ready = await open_redis(
            stack, settings.redis_url, timeout_s=timeout
        )
        app.state.events, kafka_ready = await open_event_producer(
            stack, settings.kafka_bootstrap_servers, TOPICS, timeout_s=timeout
        )
        return {"postgres": db_ready, "redis": redis_ready, "kafka": kafka_ready}

    return create_service_app(
        name="dispatch",
        settings=settings,
        open_resources=open_resources,
        description="Uber: location ingest, nearby drivers, trip dispatch and surge.",
    )
