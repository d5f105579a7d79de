"""The chat Web API (Slack's stateless method API)."""

from contextlib import AsyncExitStack

from fastapi import FastAPI

from chat.api import render_rejection, router
from chat.events import TOPICS
from chat.ratelimit import RateLimiter
from chat.settings import ChatSettings
from chat.store import ChatStore
from stackkit.lifespan import backends
from stackkit.outbox import start_relay
from stackkit.service import ReadinessCheck, create_service_app


async def open_chat(app: FastAPI, stack: AsyncExitStack) -> dict[str, ReadinessCheck]:
    """The store (its schema created), the outbox relay and the per-method rate limiter."""
    settings: ChatSettings = app.state.settings
    app.state.store = ChatStore(app.state.db)
    await app.state.store.create_schema()
    app.state.relay = start_relay(stack, app.state.db, app.state.events)
    app.state.limiter = RateLimiter(
        app.state.redis, {"chat.postMessage": settings.post_rate_per_s}, default=100
    )
    return {}


def create_app(settings: ChatSettings | None = None) -> FastAPI:
    return create_service_app(
        name="chat",
        settings=settings or ChatSettings(),
        lifespan_parts=(backends(TOPICS), open_chat),
        routers=(router,),
        description="Slack: the Web API (conversations, chat.postMessage, presence).",
        render_rejection=render_rejection,
    )
