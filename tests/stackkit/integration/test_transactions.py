"""SERIALIZABLE transactions against a real Postgres: a conflict is retried from the top, and a
conflict that never ends is a retryable ``lock_timeout`` (a 503), not the driver's error."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from devstack.servers import PostgresServer
from stackkit.errors import Contended, Unavailable
from stackkit.http_errors import status_for
from stackkit.transactions import Connection, serializable

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(postgres_server: PostgresServer) -> AsyncIterator[asyncpg.Pool[asyncpg.Record]]:
    pool = await asyncpg.create_pool(postgres_server.url("postgres"), min_size=1, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def counter(pool: asyncpg.Pool[asyncpg.Record]) -> AsyncIterator[str]:
    table = f"counter_{uuid.uuid4().hex[:8]}"
    await pool.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, value int NOT NULL)")
    await pool.execute(f"INSERT INTO {table} VALUES (1, 0)")
    try:
        yield table
    finally:
        await pool.execute(f"DROP TABLE {table}")


def incrementer(
    pool: asyncpg.Pool[asyncpg.Record], table: str, *, conflicts: int
) -> tuple[Callable[[Connection], Awaitable[int]], list[int]]:
    """A read-then-write whose row another connection changes in between, ``conflicts`` times:
    each of those attempts fails to serialize."""
    attempts: list[int] = []

    async def work(conn: Connection) -> int:
        attempts.append(1)
        value = await conn.fetchval(f"SELECT value FROM {table} WHERE id = 1")
        if len(attempts) <= conflicts:
            await pool.execute(f"UPDATE {table} SET value = value + 100 WHERE id = 1")
        await conn.execute(f"UPDATE {table} SET value = $1 WHERE id = 1", value + 1)
        return int(value) + 1

    return work, attempts


async def test_a_conflict_is_retried_from_the_top_and_its_write_lands_once(
    pool: asyncpg.Pool[asyncpg.Record], counter: str
) -> None:
    work, attempts = incrementer(pool, counter, conflicts=2)
    result = await serializable(pool, work, attempts=5)
    assert len(attempts) == 3
    # The third run read the two outside increments: nothing of the failed runs was kept.
    assert result == 201
    assert await pool.fetchval(f"SELECT value FROM {counter} WHERE id = 1") == 201


async def test_conflicts_past_the_retries_are_a_retryable_lock_timeout_with_nothing_kept(
    pool: asyncpg.Pool[asyncpg.Record], counter: str
) -> None:
    work, attempts = incrementer(pool, counter, conflicts=1_000)
    with pytest.raises(Contended) as raised:
        await serializable(pool, work, attempts=3)
    assert len(attempts) == 3
    assert isinstance(raised.value, Unavailable) and raised.value.code == "lock_timeout"
    assert status_for(raised.value) == 503
    assert isinstance(raised.value.__cause__, asyncpg.SerializationError)
    # Only the outside writes happened.
    assert await pool.fetchval(f"SELECT value FROM {counter} WHERE id = 1") == 300
