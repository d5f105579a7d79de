"""A transactional outbox: stage events in the same transaction as the change they describe,
and relay them to Kafka afterwards, so an event is never lost to a crash and never published
for a change that rolled back. Consumers dedupe on the event id (the relay is at-least-once).
"""

import asyncio
import contextlib
from contextlib import AsyncExitStack

import asyncpg

from stackkit.events import Event
from stackkit.kafka import EventProducer
from stackkit.logs import get_logger
from stackkit.periodic import run_until_stopped
from stackkit.schema import apply_schema
from stackkit.transactions import Connection

OUTBOX_DDL = """
CREATE TABLE IF NOT EXISTS outbox (
    id bigserial PRIMARY KEY,
    topic text NOT NULL,
    key text NOT NULL,
    payload bytea NOT NULL,
    created timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
"""
RELAY_BATCH = 500

log = get_logger(__name__)


async def create_outbox(pool: "asyncpg.Pool[asyncpg.Record]") -> None:
    await apply_schema(pool, "stackkit.outbox", OUTBOX_DDL)


async def stage(conn: Connection, topic: str, event: Event) -> None:
    """Call inside the transaction that makes the change."""
    await conn.execute(
        "INSERT INTO outbox (topic, key, payload) VALUES ($1, $2, $3)",
        topic,
        event.subject,
        event.encode(),
    )


async def relay(pool: "asyncpg.Pool[asyncpg.Record]", producer: EventProducer) -> int:
    """Publish staged events in commit order; one relay at a time keeps per-key order."""
    async with pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext('stackkit.outbox'))"):
            return 0  # another process is relaying right now
        rows = await conn.fetch(
            "SELECT id, topic, key, payload FROM outbox WHERE published_at IS NULL "
            "ORDER BY id LIMIT $1",
            RELAY_BATCH,
        )
        if not rows:
            return 0
        sends = [
            producer.publish_raw(row["topic"], bytes(row["payload"]), row["key"].encode(), [])
            for row in rows
        ]
        await asyncio.gather(*sends)
        await conn.execute(
            "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
            [row["id"] for row in rows],
        )
    return len(rows)


class OutboxRelay:
    """Relays soon after a commit (``kick()``), and every ``idle_s`` anyway for what a crashed
    process staged: the latency of a kick is one Kafka round trip, not a polling interval."""

    def __init__(
        self, pool: "asyncpg.Pool[asyncpg.Record]", producer: EventProducer, idle_s: float
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._idle_s = idle_s
        self._kicked = asyncio.Event()
        self.relayed = 0

    def kick(self) -> None:
        self._kicked.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kicked.wait(), self._idle_s)
            self._kicked.clear()
            try:
                while sent := await relay(self._pool, self._producer):
                    self.relayed += sent
            except Exception:
                log.exception("outbox_relay_failed")


def start_relay(
    stack: AsyncExitStack,
    pool: "asyncpg.Pool[asyncpg.Record]",
    producer: EventProducer,
    idle_s: float = 0.5,
) -> OutboxRelay:
    """An :class:`OutboxRelay` running until the app stops."""
    outbox_relay = OutboxRelay(pool, producer, idle_s)
    run_until_stopped(stack, outbox_relay.run(), "outbox-relay")
    return outbox_relay
