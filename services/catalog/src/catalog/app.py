from contextlib import AsyncExitStack

from fastapi import FastAPI
from stackkit.connections import open_event_producer, open_redis
from stackkit.service import ReadinessCheck, create_service_app

from catalog.events import TOPICS
from catalog.settings import CatalogSettings


def create_app(settings: CatalogSettings | None = None) -> FastAPI:
    settings = settings or CatalogSettings()

    async def open_resources(app: FastAPI, stack: AsyncExitStack) -> dict[str, ReadinessCheck]:
        timeout = settings.startup_timeout_s
        app.state.redis, redis_ready = await open_redis(
            stack, settings.redis_url, timeout_s=timeout
        )
        app.state.events, kafka_ready = await open_event_producer(
            stack, settings.kafka_bootstrap_servers, TOPICS, timeout_s=timeout
        )
        return {"redis": redis_ready, "kafka": kafka_ready}

    return create_service_app(
        name="catalog",
        settings=settings,
        open_resources=open_resources,
        description="Netflix: titles, encodes, Open Connect steering and recommendations.",
    )
