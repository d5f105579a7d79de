from contextlib import AsyncExitStack

from fastapi import FastAPI

from dispatch.api import router
from dispatch.events import TOPICS
from dispatch.locations import LocationIndex
from dispatch.settings import DispatchSettings
from stackkit.connections import open_backends
from stackkit.service import ReadinessCheck, create_service_app


def create_app(settings: DispatchSettings | None = None) -> FastAPI:
    settings = settings or DispatchSettings()

    async def open_resources(app: FastAPI, stack: AsyncExitStack) -> dict[str, ReadinessCheck]:
        checks = await open_backends(app, stack, settings, topics=TOPICS)
        app.state.locations = LocationIndex(app.state.redis, stale_after_s=settings.stale_after_s)
        return checks

    app = create_service_app(
        name="dispatch",
        settings=settings,
        open_resources=open_resources,
        description="Uber: location ingest, nearby drivers, trip dispatch and surge.",
    )
    app.include_router(router)
    return app
