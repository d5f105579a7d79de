from contextlib import AsyncExitStack

from fastapi import FastAPI

from dispatch.events import TOPICS
from dispatch.settings import DispatchSettings
from stackkit.connections import open_backends
from stackkit.service import ReadinessCheck, create_service_app


def create_app(settings: DispatchSettings | None = None) -> FastAPI:
    settings = settings or DispatchSettings()

    async def open_resources(app: FastAPI, stack: AsyncExitStack) -> dict[str, ReadinessCheck]:
        return await open_backends(app, stack, settings, topics=TOPICS)

    return create_service_app(
        name="dispatch",
        settings=settings,
        open_resources=open_resources,
        description="Uber: location ingest, nearby drivers, trip dispatch and surge.",
    )
