"""The lifespan part every service starts with, for :func:`stackkit.service.create_service_app`.

Apart from :mod:`stackkit.service` because :mod:`stackkit.connections` imports that module.
"""

from collections.abc import Sequence
from contextlib import AsyncExitStack

from fastapi import FastAPI

from stackkit.connections import open_backends
from stackkit.kafka import TopicSpec
from stackkit.service import LifespanPart, ReadinessCheck
from stackkit.settings import ServiceSettings


def backends(topics: Sequence[TopicSpec] = ()) -> LifespanPart:
    """The part that opens every backend the app's settings declare, waiting for each
    (:func:`stackkit.connections.open_backends`: ``app.state.db``, ``app.state.redis``,
    ``app.state.events`` with ``topics`` created), and checks them."""

    async def open_declared_backends(
        app: FastAPI, stack: AsyncExitStack
    ) -> dict[str, ReadinessCheck]:
        settings: ServiceSettings = app.state.settings
        return await open_backends(app, stack, settings, topics=list(topics))

    return open_declared_backends
