"""The chat Web API (Slack's stateless method API)."""

from contextlib import AsyncExitStack

from fastapi import FastAPI
from stackkit.connections import open_event_producer, open_postgres, open_redis
from stackkit.service import ReadinessCheck, create_service_app

from chat.events import TOPICS
from chat.settings import ChatSettings


def create_app(settings: ChatSettings | None = None) -> FastAPI:
    settings = settings or ChatSettings()

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
        name="chat",
        settings=settings,
        open_resources=open_resources,
        description="Slack: the Web API (conversations, chat.postMessage, presence).",
    )
