"""A transactional outbox: stage events in the same transaction as the change they describe,
and relay them to Kafka afterwards, so an event is never lost to a crash and never published
for a change that rolled back. Consumers dedupe on the event id (the relay is at-least-once).

Staging also sends a Postgres ``NOTIFY`` that is delivered when (and only if) the transaction
commits; every relay ``LISTEN``s, so a commit in any process (payments stages in its API and
relays in its worker) kicks the relay at once. An idle sweep catches what no notification
announced: rows a crashed relay left, or commits made while a relay's listener was down.
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
from stackkit.tracing import current_traceparent, quiet, span
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
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS traceparent text;
"""
"""``traceparent``: the W3C context of the transaction that staged the row (NULL when it was not
traced), so the relay and every consumer join that request's trace. Added by ``ALTER``, so a
database made before it upgrades at the next start."""
RELAY_BATCH = 500
OUTBOX_CHANNEL = "stackkit_outbox"
"""The ``NOTIFY`` channel of staged events (per database, as the outbox table is)."""

log = get_logger(__name__)


async def create_outbox(pool: "asyncpg.Pool[asyncpg.Record]") -> None:
    await apply_schema(pool, "stackkit.outbox", OUTBOX_DDL)


async def stage(conn: Connection, topic: str, event: Event) -> None:
    """Call inside the transaction that makes the change; its commit kicks the relays."""
    # One round trip for both. Postgres folds equal notifications of one transaction into
    # one, so a transaction staging many events wakes each relay once.
    await conn.execute(
        "WITH staged AS (INSERT INTO outbox (topic, key, payload, traceparent) "
        "VALUES ($1, $2, $3, $5) RETURNING id) SELECT pg_notify($4, '') FROM staged",
        topic,
        event.subject,
        event.encode(),
        OUTBOX_CHANNEL,
        current_traceparent(),
    )


async def relay(pool: "asyncpg.Pool[asyncpg.Record]", producer: EventProducer) -> int:
    """Publish staged events in commit order; one relay at a time keeps per-key order."""
    async with pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext('stackkit.outbox'))"):
            return 0  # another process is relaying right now
        rows = await conn.fetch(
            "SELECT id, topic, key, payload, traceparent FROM outbox WHERE published_at IS NULL "
            "ORDER BY id LIMIT $1",
            RELAY_BATCH,
        )
        if not rows:
            return 0
        await asyncio.gather(*(_publish_staged(producer, row) for row in rows))
        await conn.execute(
            "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
            [row["id"] for row in rows],
        )
    return len(rows)


async def _publish_staged(producer: EventProducer, row: asyncpg.Record) -> None:
    # A span in the trace of the transaction that staged the row: the gap before it is the
    # relay's latency, and the record's headers carry it on to the consumers.
    topic = row["topic"]
    with span(
        f"outbox relay {topic}", parent=row["traceparent"], attributes={"outbox.id": row["id"]}
    ):
        await producer.publish_raw(topic, bytes(row["payload"]), row["key"].encode(), [])


class OutboxRelay:
    """Relays soon after a commit, and every ``idle_s`` anyway for what no notification
    announced: the latency of a commit is one Kafka round trip, not a polling interval.

    A commit anywhere kicks it through ``LISTEN`` on one connection of ``pool`` (held while
    it runs, re-opened on the next sweep when lost); ``kick()`` does it in-process."""

    def __init__(
        self, pool: "asyncpg.Pool[asyncpg.Record]", producer: EventProducer, idle_s: float
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._idle_s = idle_s
        self._kicked = asyncio.Event()
        self._listener: Connection | None = None
        self.relayed = 0

    @property
    def listening(self) -> bool:
        if self._listener is None:
            return False
        try:
            return not self._listener.is_closed()
        except asyncpg.InterfaceError:  # the pool took back a connection it saw die
            return False

    def kick(self) -> None:
        self._kicked.set()

    def _notified(self, *_: object) -> None:
        self.kick()

    async def run(self) -> None:
        # The sweeps' own queries make no traces; each relayed row is a span in its stager's.
        with quiet():
            await self._relay_until_cancelled()

    async def _relay_until_cancelled(self) -> None:
        try:
            while True:
                await self._keep_listening()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._kicked.wait(), self._idle_s)
                # Cleared before relaying: a commit during the relay sets it again, so the
                # rows that relay's query did not see go on the next round, not the next sweep.
                self._kicked.clear()
                try:
                    while sent := await relay(self._pool, self._producer):
                        self.relayed += sent
                except Exception:
                    log.exception("outbox_relay_failed")
        finally:
            await self._stop_listening()

    async def _keep_listening(self) -> None:
        """LISTEN unless already listening; on failure the idle sweep carries on alone."""
        if self.listening:
            return
        await self._stop_listening()
        try:
            conn = await self._pool.acquire(timeout=self._idle_s)
        except Exception:
            log.warning("outbox_listen_failed", exc_info=True)
            return
        try:
            await conn.add_listener(OUTBOX_CHANNEL, self._notified)
        except Exception:
            log.warning("outbox_listen_failed", exc_info=True)
            await self._pool.release(conn)
            return
        self._listener = conn
        self.kick()  # what was committed while nobody listened goes now, not at the sweep

    async def _stop_listening(self) -> None:
        conn, self._listener = self._listener, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.remove_listener(OUTBOX_CHANNEL, self._notified)
            with contextlib.suppress(Exception):
                await self._pool.release(conn)


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
