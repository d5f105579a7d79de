"""Consumer-side dedupe on the event id ("inbox"): each event takes effect once per consumer group.

``claim`` yields a transaction-like handle to run the effect in, or ``None`` when the event was
already processed by this group.

* :class:`PostgresInbox` records the event id in the same transaction as the handler's writes,
  so the effect happens exactly once even if the consumer is killed at any point.
* :class:`RedisInbox` marks the id after the handler succeeds: an effect outside Redis can run
  twice only if the process dies between the effect and the mark, so keep such effects idempotent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol, TypeAlias, TypeVar

import asyncpg
import redis.asyncio as aioredis
from asyncpg.pool import PoolConnectionProxy

from stackkit.schema import apply_schema

TxT_co = TypeVar("TxT_co", covariant=True)

PostgresTx: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"
"""What a handler behind a :class:`PostgresInbox` gets: a connection inside the transaction."""

INBOX_DDL = """
CREATE TABLE IF NOT EXISTS event_inbox (
    consumer_group text NOT NULL,
    event_id text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, event_id)
)
"""


class Inbox(Protocol[TxT_co]):
    def claim(self, group: str, event_id: str) -> AbstractAsyncContextManager[TxT_co | None]: ...


class PostgresInbox:
    def __init__(self, pool: asyncpg.Pool[asyncpg.Record]) -> None:
        self._pool = pool

    async def create_table(self) -> None:
        await apply_schema(self._pool, "stackkit.event_inbox", INBOX_DDL)

    @asynccontextmanager
    async def claim(self, group: str, event_id: str) -> AsyncIterator[PostgresTx | None]:
        async with self._pool.acquire() as conn, conn.transaction():
            # A concurrent claim of the same id (during a rebalance) blocks on this row until
            # the first commits, then sees the conflict and skips.
            inserted = await conn.fetchval(
                "INSERT INTO event_inbox (consumer_group, event_id) VALUES ($1, $2) "
                "ON CONFLICT DO NOTHING RETURNING true",
                group,
                event_id,
            )
            yield conn if inserted else None


class RedisInbox:
    def __init__(self, client: aioredis.Redis, *, ttl_s: int = 7 * 24 * 3600) -> None:
        self._client = client
        self._ttl_s = ttl_s

    @staticmethod
    def _key(group: str, event_id: str) -> str:
        return f"inbox:{group}:{event_id}"

    @asynccontextmanager
    async def claim(self, group: str, event_id: str) -> AsyncIterator[aioredis.Redis | None]:
        key = self._key(group, event_id)
        if await self._client.exists(key):
            yield None
            return
        yield self._client
        await self._client.set(key, b"1", ex=self._ttl_s)
