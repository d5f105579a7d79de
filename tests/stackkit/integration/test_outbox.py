"""The outbox relay against real Postgres and Kafka: kicked by a commit in any process through
``NOTIFY``/``LISTEN``, an idle sweep for what no notification announced, one relay at a time."""

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import asyncpg
import pytest

from devstack.servers import KafkaServer, PostgresServer
from stackkit.connections import open_event_producer
from stackkit.events import Event
from stackkit.kafka import EventProducer, TopicSpec
from stackkit.outbox import OutboxRelay, create_outbox, stage, start_relay
from tests.kafka_reading import read_topic
from tests.waiting import eventually

pytestmark = pytest.mark.integration

NEVER_S = 3600.0
"""An idle sweep that never comes within a test: what arrives was kicked by a commit."""


@dataclass
class Outbox:
    stack: AsyncExitStack
    relay_pool: "asyncpg.Pool[asyncpg.Record]"
    """The relaying process's pool."""
    writer: "asyncpg.Pool[asyncpg.Record]"
    """Another process's pool: it stages and commits, and never kicks a relay itself."""
    producer: EventProducer
    topic: str
    bootstrap: str

    def start_relay(self, idle_s: float = NEVER_S) -> OutboxRelay:
        return start_relay(self.stack, self.relay_pool, self.producer, idle_s)

    async def commit(self, *events: Event) -> None:
        async with self.writer.acquire() as conn, conn.transaction():
            for event in events:
                await stage(conn, self.topic, event)

    async def published(self, count: int, subject: str) -> list[int]:
        """The ``n`` of the first ``count`` events on the topic for ``subject``, in order."""
        return await read_topic(
            self.bootstrap,
            self.topic,
            lambda r: Event.decode(r.value).data["n"] if r.key == subject.encode() else None,
            count=count,
            timeout_s=15,
        )


def numbered(n: int, subject: str = "entity") -> Event:
    return Event(type="test.numbered", source="tests", subject=subject, data={"n": n})


async def listening(relay: OutboxRelay) -> None:
    async def up() -> bool:
        return relay.listening

    await eventually(up, what="the relay to LISTEN")


@pytest.fixture
async def outbox(
    postgres_server: PostgresServer, kafka_server: KafkaServer
) -> AsyncIterator[Outbox]:
    database = f"outbox_{uuid.uuid4().hex[:8]}"  # an outbox of its own: no other test's rows
    admin = await asyncpg.connect(postgres_server.admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    async with AsyncExitStack() as stack:
        pools = []
        for _ in range(2):
            pool = await asyncpg.create_pool(postgres_server.url(database), min_size=1, max_size=4)
            stack.push_async_callback(pool.close)
            pools.append(pool)
        await create_outbox(pools[0])
        topic = f"test.outbox-{uuid.uuid4().hex[:8]}"
        producer, _ = await open_event_producer(
            stack, kafka_server.bootstrap_servers, [TopicSpec(topic)], timeout_s=10
        )
        yield Outbox(stack, pools[0], pools[1], producer, topic, kafka_server.bootstrap_servers)


async def test_a_commit_in_another_process_kicks_the_relay(outbox: Outbox) -> None:
    relay = outbox.start_relay()
    await listening(relay)
    await outbox.commit(numbered(1), numbered(2))
    await outbox.commit(numbered(3))
    assert await outbox.published(3, "entity") == [1, 2, 3]
    assert relay.relayed == 3


async def test_a_rolled_back_stage_is_never_relayed(outbox: Outbox) -> None:
    relay = outbox.start_relay()
    await listening(relay)
    with pytest.raises(RuntimeError):
        async with outbox.writer.acquire() as conn, conn.transaction():
            await stage(conn, outbox.topic, numbered(1))
            raise RuntimeError("the change fails")
    await outbox.commit(numbered(2))
    assert await outbox.published(1, "entity") == [2]
    unpublished = await outbox.relay_pool.fetchval(
        "SELECT count(*) FROM outbox WHERE published_at IS NULL"
    )
    assert (relay.relayed, unpublished) == (1, 0)


async def test_what_was_staged_before_the_relay_started_goes_at_once(outbox: Outbox) -> None:
    await outbox.commit(numbered(1))  # nobody listens yet: a crashed relay's leftovers
    outbox.start_relay()
    assert await outbox.published(1, "entity") == [1]


async def test_a_lost_listener_is_replaced_and_the_sweep_covers_the_gap(outbox: Outbox) -> None:
    relay = outbox.start_relay(idle_s=0.2)
    await listening(relay)
    terminated = await outbox.writer.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
    )
    assert terminated == 1
    await outbox.commit(numbered(1))
    assert await outbox.published(1, "entity") == [1]

    async def listening_again() -> bool:
        listeners = await outbox.writer.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
        )
        return relay.listening and listeners == 1

    await eventually(listening_again, what="a new LISTEN connection")


async def test_two_relays_publish_each_event_once_in_commit_order(outbox: Outbox) -> None:
    relays = [outbox.start_relay(), outbox.start_relay()]
    for relay in relays:
        await listening(relay)
    for first in range(0, 200, 10):
        await outbox.commit(*(numbered(n, "one-key") for n in range(first, first + 10)))
    assert await outbox.published(200, "one-key") == list(range(200))

    async def all_relayed() -> bool:
        return sum(relay.relayed for relay in relays) == 200

    await eventually(all_relayed, what="200 events relayed between both")
