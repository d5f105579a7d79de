from contextlib import AsyncExitStack

from fastapi import FastAPI

from catalog.events import TOPICS
from catalog.settings import CatalogSettings
from stackkit.connections import open_backends
from stackkit.service import ReadinessCheck, create_service_app


def create_app(settings: CatalogSettings | None = None) -> FastAPI:
    settings = settings or CatalogSettings()

    async def open_resources(app: FastAPI, stack: AsyncExitStack) -> dict[str, ReadinessCheck]:
        return await open_backends(app, stack, settings, topics=TOPICS)

    return create_service_app(
        name="catalog",
        settings=settings,
        open_resources=open_resources,
        description="Netflix: titles, encodes, Open Connect steering and recommendations.",
    )
