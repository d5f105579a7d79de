"""Opening backends (Postgres, Redis, Kafka) on a lifespan's exit stack, each with its check.

The clients made here meet the ``fault.redis`` / ``fault.postgres`` / ``fault.kafka.produce``
flags (``stackkit.faults``); :func:`open_backends` also opens the process's run-time flags.
"""

from contextlib import AsyncExitStack

import asyncpg
import redis.asyncio as aioredis
from fastapi import FastAPI
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from stackkit.faults import FaultableRedis, postgres_fault_on_acquire
from stackkit.flags import open_flags
from stackkit.kafka import EventProducer, TopicSpec, ensure_topics
from stackkit.retrying import retry_until_available
from stackkit.service import ReadinessCheck
from stackkit.settings import KafkaSettings, PostgresSettings, RedisSettings, ServiceSettings


async def open_postgres(
    stack: AsyncExitStack, dsn: str, *, timeout_s: float, max_size: int = 10
) -> tuple["asyncpg.Pool[asyncpg.Record]", ReadinessCheck]:
    """A pool that survives a server restart: broken connections are replaced on acquire.
    Every acquire meets the ``fault.postgres`` flag."""

    async def connect() -> "asyncpg.Pool[asyncpg.Record]":
        return await asyncpg.create_pool(
            dsn, min_size=1, max_size=max_size, timeout=5, setup=postgres_fault_on_acquire
        )

    pool = await retry_until_available(connect, what="postgres", timeout_s=timeout_s)
    stack.push_async_callback(pool.close)

    async def check() -> None:
        await pool.fetchval("SELECT 1")

    return pool, check


def as_text(value: bytes | str) -> str:
    """A Redis reply as text: clients answer bytes, or str when they decode responses."""
    return value.decode() if isinstance(value, bytes) else value


async def open_redis(
    stack: AsyncExitStack, url: str, *, timeout_s: float
) -> tuple["aioredis.Redis", ReadinessCheck]:
    # A restarted server leaves every pooled connection dead: without a retry, each one fails
    # one command before the pool replaces it. One quick retry on a fresh connection instead.
    client = FaultableRedis.from_url(
        url,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=10,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
        retry_on_error=[RedisConnectionError],
    )
    stack.push_async_callback(client.aclose)
    await retry_until_available(client.ping, what="redis", timeout_s=timeout_s)

    async def check() -> None:
        await client.ping()

    return client, check


async def open_event_producer(
    stack: AsyncExitStack, bootstrap_servers: str, topics: list[TopicSpec], *, timeout_s: float
) -> tuple[EventProducer, ReadinessCheck]:
    """A started producer, with the service's topics (and their dead-letter twins) created."""
    producer = await EventProducer.start(bootstrap_servers, timeout_s=timeout_s)
    stack.push_async_callback(producer.stop)
    await ensure_topics(bootstrap_servers, topics)
    return producer, producer.check


async def open_backends(
    app: FastAPI,
    stack: AsyncExitStack,
    settings: ServiceSettings,
    *,
    topics: list[TopicSpec] | None = None,
) -> dict[str, ReadinessCheck]:
    """Open every backend the settings declare, waiting for each, and return their checks.

    By the settings' mixins: :class:`PostgresSettings` gives ``app.state.db`` (a pool),
    :class:`RedisSettings` gives ``app.state.redis``, and :class:`KafkaSettings` gives
    ``app.state.events`` (an :class:`EventProducer`, with ``topics`` created). Every process
    also gets the run-time flags (``stackkit.flags``), their metrics on the app's registry.
    """
    timeout = settings.startup_timeout_s
    checks: dict[str, ReadinessCheck] = {}
    metrics = getattr(app.state, "metrics", None)
    await open_flags(stack, settings, metrics.registry if metrics is not None else None)
    if isinstance(settings, PostgresSettings):
        app.state.db, checks["postgres"] = await open_postgres(
            stack, settings.database_url, timeout_s=timeout
        )
    if isinstance(settings, RedisSettings):
        app.state.redis, checks["redis"] = await open_redis(
            stack, settings.redis_url, timeout_s=timeout
        )
    if isinstance(settings, KafkaSettings):
        app.state.events, checks["kafka"] = await open_event_producer(
            stack, settings.kafka_bootstrap_servers, topics or [], timeout_s=timeout
        )
    return checks
