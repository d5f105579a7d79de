"""A trace crosses the backbone: an event published in a request, or staged in the request's
transaction and relayed from the outbox, is handled by an ``EventConsumer`` (real Kafka, a real
Postgres inbox) in a CONSUMER span of the request's trace."""

import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from devstack.servers import KafkaServer, PostgresServer
from stackkit import tracing
from stackkit.connections import open_event_producer
from stackkit.consumer import ConsumerConfig, EventConsumer, run_in_background
from stackkit.events import Event
from stackkit.inbox import PostgresInbox, PostgresTx
from stackkit.kafka import EventProducer, TopicSpec
from stackkit.outbox import create_outbox, relay, stage, start_relay
from stackkit.service import create_service_app
from stackkit.settings import ServiceSettings
from tests.kafka_reading import read_topic
from tests.tracing.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.waiting import eventually

pytestmark = pytest.mark.integration

OLD_OUTBOX = """
CREATE TABLE outbox (
    id bigserial PRIMARY KEY,
    topic text NOT NULL,
    key text NOT NULL,
    payload bytea NOT NULL,
    created timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
)
"""
"""The outbox as databases made before traces were kept have it."""


@dataclass
class Backbone:
    stack: AsyncExitStack
    pool: "asyncpg.Pool[asyncpg.Record]"
    producer: EventProducer
    topic: str
    bootstrap: str
    handled: list[str] = field(default_factory=list)

    def consume(self) -> None:
        """An ``EventConsumer`` with a Postgres inbox, running until the test ends."""

        async def handler(event: Event, tx: PostgresTx) -> None:
            await tx.execute("SELECT 1")  # the handler's own work, in its span
            self.handled.append(event.id)

        config = ConsumerConfig(
            bootstrap_servers=self.bootstrap,
            group_id=f"tracing-{uuid.uuid4().hex[:8]}",
            topics=(self.topic,),
            startup_timeout_s=30,
        )
        consumer = EventConsumer(config, handler, PostgresInbox(self.pool), self.producer)
        run_in_background(self.stack, consumer)

    async def was_handled(self, event_id: str) -> None:
        async def handled() -> bool:
            return event_id in self.handled

        await eventually(handled, timeout_s=30, what=f"{event_id} handled")


async def fresh_database(postgres_server: PostgresServer) -> str:
    database = f"tracing_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(postgres_server.admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    return postgres_server.url(database)


@pytest.fixture
async def backbone(
    postgres_server: PostgresServer, kafka_server: KafkaServer
) -> AsyncIterator[Backbone]:
    async with AsyncExitStack() as stack:
        pool = await asyncpg.create_pool(
            await fresh_database(postgres_server), min_size=1, max_size=4
        )
        stack.push_async_callback(pool.close)
        await PostgresInbox(pool).create_table()
        topic = f"test.tracing-{uuid.uuid4().hex[:8]}"
        producer, _ = await open_event_producer(
            stack, kafka_server.bootstrap_servers, [TopicSpec(topic, partitions=2)], timeout_s=10
        )
        yield Backbone(stack, pool, producer, topic, kafka_server.bootstrap_servers)


def orders_app(backbone: Backbone, *, through_outbox: bool) -> FastAPI:
    app = create_service_app(name="orders", settings=ServiceSettings())

    @app.post("/orders/{order_id}")
    async def place(order_id: str) -> dict[str, str]:
        event = Event(type="test.order_placed", source="orders", subject=order_id)
        if through_outbox:
            async with backbone.pool.acquire() as conn, conn.transaction():
                await stage(conn, backbone.topic, event)
        else:
            await backbone.producer.publish(backbone.topic, event)
        return {"event_id": event.id}

    return app


async def place_order(app: FastAPI) -> tuple[str, str]:
    """(the caller's trace id, the event id) of one order placed with a ``traceparent``."""
    trace_id = secrets.token_hex(16)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post(
            "/orders/o-1", headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}
        )
    assert response.status_code == 200
    return trace_id, response.json()["event_id"]


async def consumer_span_of(receiver: OtlpReceiver, event_id: str) -> ReceivedSpan:
    assert tracing.force_flush()
    return await receiver.wait_for(
        lambda s: s.kind == "CONSUMER" and s.attributes.get("messaging.message.id") == event_id,
        what=f"the consumer span of {event_id}",
    )


def one(spans: list[ReceivedSpan], kind: str, name: str) -> ReceivedSpan:
    found = [s for s in spans if s.kind == kind and s.name == name]
    assert len(found) == 1, (kind, name, [(s.kind, s.name) for s in spans])
    return found[0]


async def test_an_event_published_in_a_request_is_consumed_in_its_trace(
    traced: OtlpReceiver, backbone: Backbone
) -> None:
    app = orders_app(backbone, through_outbox=False)
    backbone.consume()
    trace_id, event_id = await place_order(app)
    await backbone.was_handled(event_id)
    consumer = await consumer_span_of(traced, event_id)
    assert consumer.trace_id == trace_id

    spans = traced.trace(trace_id)
    server = one(spans, "SERVER", "POST /orders/{order_id}")
    producer = one(spans, "PRODUCER", f"{backbone.topic} publish")
    assert producer.parent_span_id == server.span_id
    assert consumer.parent_span_id == producer.span_id
    assert consumer.name == f"{backbone.topic} process"
    assert producer.attributes["messaging.message.id"] == event_id
    # The inbox's claim and the handler's query: Postgres, inside the consumer span.
    await traced.wait_for(
        lambda s: s.kind == "CLIENT" and s.parent_span_id == consumer.span_id,
        what="a Postgres span in the consumer span",
    )
    postgres = [s for s in traced.trace(trace_id) if s.parent_span_id == consumer.span_id]
    assert any("event_inbox" in str(s.attributes.get("db.statement", "")) for s in postgres)


async def test_an_event_staged_in_the_outbox_joins_the_trace_of_the_request_that_wrote_it(
    traced: OtlpReceiver, backbone: Backbone
) -> None:
    app = orders_app(backbone, through_outbox=True)
    await create_outbox(backbone.pool)
    start_relay(backbone.stack, backbone.pool, backbone.producer, idle_s=0.2)
    backbone.consume()
    trace_id, event_id = await place_order(app)
    await backbone.was_handled(event_id)
    consumer = await consumer_span_of(traced, event_id)
    assert consumer.trace_id == trace_id

    spans = traced.trace(trace_id)
    server = one(spans, "SERVER", "POST /orders/{order_id}")
    relayed = one(spans, "INTERNAL", f"outbox relay {backbone.topic}")
    producer = one(spans, "PRODUCER", f"{backbone.topic} publish")
    assert relayed.parent_span_id == server.span_id
    assert producer.parent_span_id == relayed.span_id
    assert consumer.parent_span_id == producer.span_id
    stored = await backbone.pool.fetchval("SELECT traceparent FROM outbox")
    assert stored.split("-")[1] == trace_id


async def test_an_outbox_made_before_traces_upgrades_and_relays_its_rows(
    untraced: OtlpReceiver, backbone: Backbone
) -> None:
    await backbone.pool.execute(OLD_OUTBOX)
    await backbone.pool.execute(
        "INSERT INTO outbox (topic, key, payload) VALUES ($1, 'old', $2)",
        backbone.topic,
        Event(type="test.old", source="tests", subject="old").encode(),
    )
    await create_outbox(backbone.pool)
    await create_outbox(backbone.pool)  # every start applies it: idempotent
    column = await backbone.pool.fetchval(
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 'outbox' AND column_name = 'traceparent'"
    )
    assert column == "text"
    async with backbone.pool.acquire() as conn, conn.transaction():
        await stage(conn, backbone.topic, Event(type="test.new", source="tests", subject="new"))
    assert await backbone.pool.fetchval("SELECT count(traceparent) FROM outbox") == 0
    assert await relay(backbone.pool, backbone.producer) == 2
    types = await read_topic(
        backbone.bootstrap, backbone.topic, lambda r: Event.decode(r.value).type, count=2
    )
    assert sorted(types) == ["test.new", "test.old"]
