"""The at-least-once consumer loop against a real Kafka broker, Postgres and Redis."""

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, ConsumerRecord

from devstack.servers import KafkaServer, PostgresServer, RedisServer
from stackkit.connections import open_event_producer
from stackkit.consumer import ConsumerConfig, EventConsumer, run_in_background
from stackkit.events import Event
from stackkit.inbox import Inbox, PostgresInbox, PostgresTx, RedisInbox
from stackkit.kafka import EventProducer, TopicSpec, dead_letter_topic
from tests.waiting import eventually

pytestmark = pytest.mark.integration


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def resources(
    kafka_server: KafkaServer, postgres_server: PostgresServer, redis_server: RedisServer
) -> AsyncIterator[dict[str, Any]]:
    async with AsyncExitStack() as stack:
        pool = await asyncpg.create_pool(postgres_server.url("postgres"), min_size=1, max_size=4)
        stack.push_async_callback(pool.close)
        redis = aioredis.Redis.from_url(redis_server.url)
        stack.push_async_callback(redis.aclose)
        topic = unique("test.events")
        producer, _ = await open_event_producer(
            stack, kafka_server.bootstrap_servers, [TopicSpec(topic, partitions=3)], timeout_s=10
        )
        inbox = PostgresInbox(pool)
        await inbox.create_table()
        yield {"pool": pool, "redis": redis, "producer": producer, "topic": topic, "stack": stack,
               "inbox": inbox, "bootstrap": kafka_server.bootstrap_servers}  # fmt: skip


def start_consumer(
    resources: dict[str, Any],
    handler: Any,
    inbox: Inbox[Any],
    group: str | None = None,
    concurrency: int = 1,
) -> EventConsumer[Any]:
    config = ConsumerConfig(
        bootstrap_servers=resources["bootstrap"],
        group_id=group or unique("group"),
        topics=(resources["topic"],),
        max_attempts=3,
        retry_max_wait_s=0.05,
        startup_timeout_s=10,
        concurrency=concurrency,
    )
    consumer = EventConsumer(config, handler, inbox, dead_letters=resources["producer"])
    run_in_background(resources["stack"], consumer)
    return consumer


def make_event(n: int) -> Event:
    return Event(type="test.happened", source="tests", subject=f"entity-{n % 4}", data={"n": n})


async def test_each_event_is_handled_once_even_when_published_twice(
    resources: dict[str, Any],
) -> None:
    seen: Counter[str] = Counter()

    async def handler(event: Event, tx: PostgresTx) -> None:
        seen[event.id] += 1

    consumer = start_consumer(resources, handler, resources["inbox"])
    producer: EventProducer = resources["producer"]
    events = [make_event(n) for n in range(20)]
    for event in events + events[:5]:  # a producer retry re-sends the same envelopes
        await producer.publish(resources["topic"], event)

    async def all_seen() -> bool:
        return consumer.handled + consumer.duplicates == 25

    await eventually(all_seen, what="25 deliveries")
    assert seen == Counter({event.id: 1 for event in events})
    assert consumer.duplicates == 5


async def test_a_handler_that_fails_transiently_is_retried(resources: dict[str, Any]) -> None:
    attempts: Counter[str] = Counter()

    async def flaky(event: Event, tx: PostgresTx) -> None:
        attempts[event.id] += 1
        await tx.execute("CREATE TEMP TABLE IF NOT EXISTS scratch (n int)")
        if attempts[event.id] < 3:
            raise ConnectionError("database blip")

    consumer = start_consumer(resources, flaky, resources["inbox"])
    event = make_event(1)
    await resources["producer"].publish(resources["topic"], event)

    async def handled() -> bool:
        return consumer.handled == 1

    await eventually(handled, what="the retried event")
    assert attempts[event.id] == 3
    assert consumer.dead_lettered == 0


async def test_poison_messages_go_to_the_dead_letter_topic_and_do_not_block(
    resources: dict[str, Any],
) -> None:
    handled: list[int] = []

    async def handler(event: Event, tx: PostgresTx) -> None:
        if event.data["n"] == 13:
            raise ValueError("thirteen is unlucky")
        handled.append(event.data["n"])

    consumer = start_consumer(resources, handler, resources["inbox"])
    producer: EventProducer = resources["producer"]
    topic = resources["topic"]
    # All on one key, so one partition: the later events must not wait behind the poison ones.
    await producer.publish_raw(topic, b"this is not an envelope", b"entity-0", [])
    for n in (12, 13, 14):
        event = make_event(n).model_copy(update={"subject": "entity-0"})
        await producer.publish(topic, event)

    async def done() -> bool:
        return handled == [12, 14] and consumer.dead_lettered == 2

    await eventually(done, what="both good events and two dead letters")

    dlq = AIOKafkaConsumer(
        dead_letter_topic(topic),
        bootstrap_servers=resources["bootstrap"],
        auto_offset_reset="earliest",
        group_id=unique("dlq-reader"),
    )
    await dlq.start()
    try:
        records: list[ConsumerRecord[bytes, bytes]] = []
        while len(records) < 2:
            batch = await asyncio.wait_for(dlq.getmany(timeout_ms=1000), timeout=10)
            records += [record for part in batch.values() for record in part]
    finally:
        await dlq.stop()
    reasons = sorted(dict(record.headers)["dlq.reason"].decode() for record in records)
    assert reasons[0].startswith("handler failed: ValueError")
    assert reasons[1].startswith("invalid envelope")


async def test_a_failed_handler_leaves_no_inbox_mark(resources: dict[str, Any]) -> None:
    async def always_fails(event: Event, tx: PostgresTx) -> None:
        await tx.execute("SELECT 1")
        raise RuntimeError("nope")

    group = unique("group")
    consumer = start_consumer(resources, always_fails, resources["inbox"], group=group)
    await resources["producer"].publish(resources["topic"], make_event(1))

    async def dead_lettered() -> bool:
        return consumer.dead_lettered == 1

    await eventually(dead_lettered, what="the dead letter")
    marks = await resources["pool"].fetchval(
        "SELECT count(*) FROM event_inbox WHERE consumer_group = $1", group
    )
    assert marks == 0


async def test_the_redis_inbox_dedupes_per_group(resources: dict[str, Any]) -> None:
    seen: Counter[str] = Counter()

    async def handler(event: Event, tx: aioredis.Redis) -> None:
        seen[event.id] += 1

    inbox = RedisInbox(resources["redis"])
    first = start_consumer(resources, handler, inbox)
    second = start_consumer(resources, handler, inbox)
    event = make_event(7)
    for _ in range(3):
        await resources["producer"].publish(resources["topic"], event)

    async def both_groups_done() -> bool:
        return all(c.handled + c.duplicates == 3 for c in (first, second))

    await eventually(both_groups_done, what="both groups")
    assert seen[event.id] == 2, "once per consumer group"
    assert (first.handled, second.handled) == (1, 1)


async def test_one_key_is_handled_in_order_while_keys_run_concurrently(
    resources: dict[str, Any],
) -> None:
    order: dict[str, list[int]] = {}
    in_flight = 0
    most_in_flight = 0

    async def handler(event: Event, tx: aioredis.Redis) -> None:
        nonlocal in_flight, most_in_flight
        in_flight += 1
        most_in_flight = max(most_in_flight, in_flight)
        await asyncio.sleep(0.005)  # stands in for a write to a store
        order.setdefault(event.subject, []).append(event.data["n"])
        in_flight -= 1

    events = [make_event(n) for n in range(80)]
    await resources["producer"].publish_many(resources["topic"], events)
    consumer = start_consumer(resources, handler, RedisInbox(resources["redis"]), concurrency=8)

    async def all_handled() -> bool:
        return consumer.handled == 80

    await eventually(all_handled, what="80 events")
    assert set(order) == {f"entity-{k}" for k in range(4)}
    for subject, seen in order.items():
        assert seen == sorted(seen) and len(seen) == 20, subject
    assert most_in_flight > 1, "different keys overlapped"
