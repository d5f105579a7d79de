"""A WebSocket gateway: holds persistent connections, separate from the stateless Web API."""

from contextlib import AsyncExitStack

from fastapi import FastAPI

from chat.events import TOPICS
from chat.settings import ChatSettings
from stackkit.connections import open_backends
from stackkit.service import ReadinessCheck, create_service_app


def create_app(settings: ChatSettings | None = None) -> FastAPI:
    settings = settings or ChatSettings()

    async def open_resources(app: FastAPI, stack: AsyncExitStack) -> dict[str, ReadinessCheck]:
        # Messages sent over a socket are stored and published here, like the Web API does.
        return await open_backends(app, stack, settings, topics=TOPICS)

    return create_service_app(
        name="chat-gateway",
        settings=settings,
        open_resources=open_resources,
        description="Slack: the WebSocket gateway layer.",
    )
