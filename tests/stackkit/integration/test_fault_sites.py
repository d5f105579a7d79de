"""The fault flags at stackkit's own call sites, against real Redis, Postgres and Kafka: writing
the flag file changes what callers see within a second (``within_a_flip``), writing it back
restores it, and the failure a caller sees is the one its driver gives for a real outage."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiokafka.errors import KafkaError
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from redis.exceptions import RedisError

from devstack.servers import KafkaServer, PostgresServer, RedisServer
from stackkit import flags
from stackkit.connections import open_backends, open_event_producer, open_postgres, open_redis
from stackkit.events import Event
from stackkit.faults import (
    FaultableRedis,
    KafkaProduceFaultInjected,
    PostgresFaultInjected,
    RedisFaultInjected,
)
from stackkit.flags import ARMED_FAULTS
from stackkit.kafka import EventProducer, TopicSpec
from stackkit.metrics import HttpMetrics
from stackkit.settings import RedisSettings, ServiceSettings
from tests.flags.running import FlagFile, running_flags, use_flag_file, within_a_flip
from tests.kafka_reading import read_topic

pytestmark = pytest.mark.integration


@pytest.fixture
async def flag_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FlagFile]:
    async with running_flags(tmp_path, monkeypatch) as file:
        yield file


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as stack:
        yield stack


# -- redis ------------------------------------------------------------------------------------


async def test_redis_down_fails_every_command_and_pipeline_then_recovers(
    flag_file: FlagFile, stack: AsyncExitStack, redis_server: RedisServer
) -> None:
    client, check = await open_redis(stack, redis_server.url, timeout_s=10)
    assert isinstance(client, FaultableRedis)
    key = f"faults:{uuid.uuid4().hex}"
    await client.set(key, "1")

    async def fails() -> bool:
        try:
            await client.get(key)
        except RedisFaultInjected:
            return True
        return False

    flag_file.set("fault.redis", "down")
    await within_a_flip(fails, "redis commands to fail")
    with pytest.raises(RedisError):  # what callers catch for a lost Redis (catalog does)
        await client.incr(key)
    with pytest.raises(RedisFaultInjected):
        async with client.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, 60)
            await pipe.execute()
    with pytest.raises(RedisFaultInjected):
        await check()  # the readiness check meets it too: /readyz says redis is down

    async def works() -> bool:
        try:
            return await client.get(key) == b"1"
        except RedisFaultInjected:
            return False

    flag_file.restore()
    await within_a_flip(works, "redis commands to work again")
    async with client.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.get(key)
        assert await pipe.execute() == [2, b"2"]


async def test_redis_slow_delays_each_command(
    flag_file: FlagFile, stack: AsyncExitStack, redis_server: RedisServer
) -> None:
    client, _ = await open_redis(stack, redis_server.url, timeout_s=10)

    async def slow() -> bool:
        started = time.monotonic()
        await client.ping()
        return time.monotonic() - started >= 0.15  # slow: 200 ms +- 50

    flag_file.set("fault.redis", "slow")
    await within_a_flip(slow, "redis commands to be slow")

    async def fast() -> bool:
        started = time.monotonic()
        await client.ping()
        return time.monotonic() - started < 0.1

    flag_file.restore()
    await within_a_flip(fast, "redis commands to be fast again")
    assert "redis" not in ARMED_FAULTS


async def test_redis_hang_holds_commands_until_the_flag_changes(
    flag_file: FlagFile, stack: AsyncExitStack, redis_server: RedisServer
) -> None:
    client, _ = await open_redis(stack, redis_server.url, timeout_s=10)
    flag_file.set("fault.redis", "hang")

    async def hanging() -> bool:
        return "redis" in ARMED_FAULTS

    await within_a_flip(hanging, "fault.redis=hang")
    with pytest.raises(TimeoutError):  # a caller's timeout ends the hang, like a hung peer's
        async with asyncio.timeout(0.3):
            await client.ping()
    flag_file.restore()

    async def answers() -> bool:
        try:
            async with asyncio.timeout(0.3):
                return bool(await client.ping())
        except TimeoutError:
            return False

    await within_a_flip(answers, "redis to answer again")


async def test_clients_made_elsewhere_are_not_touched(
    flag_file: FlagFile, redis_server: RedisServer
) -> None:
    plain = aioredis.Redis.from_url(redis_server.url)
    try:
        flag_file.set("fault.redis", "down")

        async def armed() -> bool:
            return "redis" in ARMED_FAULTS

        await within_a_flip(armed, "fault.redis=down")
        assert await plain.ping()
    finally:
        await plain.aclose()


# -- postgres ---------------------------------------------------------------------------------


async def test_postgres_down_fails_every_acquire_then_recovers(
    flag_file: FlagFile, stack: AsyncExitStack, postgres_server: PostgresServer
) -> None:
    pool, check = await open_postgres(stack, postgres_server.admin_url, timeout_s=10, max_size=2)

    async def fails() -> bool:
        try:
            await pool.fetchval("SELECT 1")
        except PostgresFaultInjected:
            return True
        return False

    flag_file.set("fault.postgres", "down")
    await within_a_flip(fails, "postgres acquires to fail")
    with pytest.raises(OSError):  # what asyncpg raises when the server refuses a connection
        async with pool.acquire() as conn:
            await conn.fetchval("SELECT 1")
    with pytest.raises(PostgresFaultInjected):
        await check()

    async def works() -> bool:
        try:
            answer: int = await pool.fetchval("SELECT 41 + 1")
            return answer == 42
        except PostgresFaultInjected:
            return False

    flag_file.restore()
    await within_a_flip(works, "postgres to work again")
    async with pool.acquire() as conn, conn.transaction():
        assert await conn.fetchval("SELECT 2") == 2


async def test_postgres_slow_delays_each_acquire(
    flag_file: FlagFile, stack: AsyncExitStack, postgres_server: PostgresServer
) -> None:
    pool, _ = await open_postgres(stack, postgres_server.admin_url, timeout_s=10, max_size=2)

    async def slow() -> bool:
        started = time.monotonic()
        await pool.fetchval("SELECT 1")
        return time.monotonic() - started >= 0.15

    flag_file.set("fault.postgres", "slow")
    await within_a_flip(slow, "postgres to be slow")

    async def fast() -> bool:
        started = time.monotonic()
        await pool.fetchval("SELECT 1")
        return time.monotonic() - started < 0.1

    flag_file.restore()
    await within_a_flip(fast, "postgres to be fast again")


async def test_pools_made_elsewhere_are_not_touched(
    flag_file: FlagFile, postgres_server: PostgresServer
) -> None:
    plain = await asyncpg.create_pool(postgres_server.admin_url, min_size=1, max_size=1)
    try:
        flag_file.set("fault.postgres", "down")

        async def armed() -> bool:
            return "postgres" in ARMED_FAULTS

        await within_a_flip(armed, "fault.postgres=down")
        assert await plain.fetchval("SELECT 1") == 1
    finally:
        await plain.close()


# -- kafka.produce ----------------------------------------------------------------------------


def _event(n: int) -> Event:
    return Event(type="test.fault", source="tests", subject="faults", data={"n": n})


async def _producer(stack: AsyncExitStack, kafka: KafkaServer) -> tuple[EventProducer, str]:
    topic = f"test.faults-{uuid.uuid4().hex[:8]}"
    producer, _ = await open_event_producer(
        stack, kafka.bootstrap_servers, [TopicSpec(topic, partitions=1)], timeout_s=30
    )
    return producer, topic


async def test_kafka_produce_down_fails_every_publish_then_recovers(
    flag_file: FlagFile, stack: AsyncExitStack, kafka_server: KafkaServer
) -> None:
    producer, topic = await _producer(stack, kafka_server)
    await producer.publish(topic, _event(1))

    async def fails() -> bool:
        try:
            await producer.publish(topic, _event(-1))
        except KafkaProduceFaultInjected:
            return True
        return False

    flag_file.set("fault.kafka.produce", "down")
    await within_a_flip(fails, "publishes to fail")
    with pytest.raises(KafkaError):  # what the relays and consumers catch for a lost broker
        await producer.publish_many(topic, [_event(-2), _event(-3)])
    with pytest.raises(KafkaProduceFaultInjected, match=r"fault injected at kafka\.produce"):
        await producer.publish_raw(topic, b"{}", b"faults", [])

    async def works() -> bool:
        try:
            await producer.publish(topic, _event(2))
        except KafkaProduceFaultInjected:
            return False
        return True

    flag_file.restore()
    await within_a_flip(works, "publishes to work again")
    await producer.publish_many(topic, [_event(3), _event(4)])
    published = await read_topic(
        kafka_server.bootstrap_servers,
        topic,
        # The probes (-1) that went through before the flip landed are not the point.
        lambda record: n if (n := Event.decode(record.value).data["n"]) != -1 else None,
        count=4,
        timeout_s=15,
    )
    assert published == [1, 2, 3, 4]  # nothing of what failed was sent (-2, -3)


# -- open_backends: every service's lifespan opens the flags ----------------------------------


class _RedisOnly(ServiceSettings, RedisSettings):
    pass


async def test_open_backends_opens_the_flags_and_exposes_their_metrics(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    redis_server: RedisServer,
) -> None:
    path = tmp_path / "flags.flagd.json"
    FlagFile(path).restore()
    use_flag_file(monkeypatch, path)
    app = FastAPI()
    app.state.metrics = HttpMetrics(registry=CollectorRegistry())
    async with AsyncExitStack() as stack:
        await open_backends(app, stack, _RedisOnly(redis_url=redis_server.url))
        assert flags.status().source == f"file {path}"
        assert app.state.metrics.registry.get_sample_value("flags_file_valid") == 1
    assert flags.status().source == "code defaults"  # closed with the lifespan
