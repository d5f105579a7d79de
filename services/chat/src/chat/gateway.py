"""A WebSocket gateway: holds persistent connections, separate from the stateless Web API."""

from contextlib import AsyncExitStack

from fastapi import FastAPI
from stackkit.connections import open_redis
from stackkit.service import ReadinessCheck, create_service_app

from chat.settings import ChatSettings


def create_app(settings: ChatSettings | None = None) -> FastAPI:
    settings = settings or ChatSettings()

    async def open_resources(app: FastAPI, stack: AsyncExitStack) -> dict[str, ReadinessCheck]:
        timeout = settings.startup_timeout_s
        app.state.redis, redis_ready = await open_redis(
            stack, settings.redis_url, timeout_s=timeout
        )
        return {"redis": redis_ready}

    return create_service_app(
        name="chat-gateway",
        settings=settings,
        open_resources=open_resources,
        description="Slack: the WebSocket gateway layer.",
    )
