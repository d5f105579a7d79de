"""Builds the payments use cases from settings: acquirer clients and the database."""

from contextlib import AsyncExitStack

import asyncpg
from prometheus_client import CollectorRegistry

from payments.acquirers import AcquirerClient, parse_acquirers
from payments.metrics import PaymentsMetrics
from payments.settings import PaymentsSettings
from payments.store import ensure_schema
from payments.usecases import Payments
from stackkit.http import internal_client


async def open_payments(
    stack: AsyncExitStack,
    settings: PaymentsSettings,
    pool: "asyncpg.Pool[asyncpg.Record]",
    registry: CollectorRegistry,
) -> Payments:
    """The use cases, their decision metrics on ``registry`` (the process's /metrics)."""
    await ensure_schema(pool)
    http = internal_client(settings.acquirer_timeout_s)
    stack.push_async_callback(http.aclose)
    acquirers = {
        name: AcquirerClient(name, url, http, settings.acquirer_timeout_s)
        for name, url in parse_acquirers(settings.acquirers).items()
    }
    return Payments(
        pool,
        acquirers,
        lock_timeout_s=settings.idempotency_lock_timeout_s,
        allow_private_webhook_targets=settings.webhook_private_targets_allowed,
        metrics=PaymentsMetrics(registry),
    )
