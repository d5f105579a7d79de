"""The chat Web API (Slack's stateless method API)."""

from contextlib import AsyncExitStack

from fastapi import FastAPI

from chat.events import TOPICS
from chat.settings import ChatSettings
from stackkit.connections import open_backends
from stackkit.service import ReadinessCheck, create_service_app


def create_app(settings: ChatSettings | None = None) -> FastAPI:
    settings = settings or ChatSettings()

    async def open_resources(app: FastAPI, stack: AsyncExitStack) -> dict[str, ReadinessCheck]:
        return await open_backends(app, stack, settings, topics=TOPICS)

    return create_service_app(
        name="chat",
        settings=settings,
        open_resources=open_resources,
        description="Slack: the Web API (conversations, chat.postMessage, presence).",
    )
