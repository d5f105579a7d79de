"""The chat Web API (Slack's stateless method API)."""

from contextlib import AsyncExitStack

from fastapi import FastAPI

from chat.api import render_rejection, router
from chat.events import TOPICS
from chat.ratelimit import RateLimiter
from chat.settings import ChatSettings
from chat.store import ChatStore
from stackkit.connections import open_backends
from stackkit.outbox import start_relay
from stackkit.service import ReadinessCheck, create_service_app


def create_app(settings: ChatSettings | None = None) -> FastAPI:
    settings = settings or ChatSettings()

    async def open_resources(app: FastAPI, stack: AsyncExitStack) -> dict[str, ReadinessCheck]:
        checks = await open_backends(app, stack, settings, topics=TOPICS)
        app.state.store = ChatStore(app.state.db)
        await app.state.store.create_schema()
        app.state.relay = start_relay(stack, app.state.db, app.state.events)
        app.state.limiter = RateLimiter(
            app.state.redis, {"chat.postMessage": settings.post_rate_per_s}, default=100
        )
        return checks

    app = create_service_app(
        name="chat",
        settings=settings,
        open_resources=open_resources,
        description="Slack: the Web API (conversations, chat.postMessage, presence).",
        render_rejection=render_rejection,
    )
    app.include_router(router)
    return app
