"""The config plane's durable log in Postgres: every change set gets the next version in commit
order (one head row serialises writers), is kept in the log for catch-up, folded into the
current key-value state for snapshots, and staged in the outbox for Kafka ``edge.config``."""

from typing import Any

import asyncpg
import orjson

from edge.domain.config import PURGE, ChangeSet
from edge.events import CONFIG_TOPIC, EVENTS, ConfigChanged
from stackkit.outbox import create_outbox, stage
from stackkit.schema import apply_schema

SCHEMA = """
CREATE TABLE IF NOT EXISTS config_head (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    version bigint NOT NULL
);
INSERT INTO config_head (version) VALUES (0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS config_log (
    version bigint PRIMARY KEY,
    written_at timestamptz NOT NULL,
    entries jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS config_entries (
    key text PRIMARY KEY,
    value jsonb NOT NULL,
    version bigint NOT NULL
);
"""


async def create_schema(pool: "asyncpg.Pool[asyncpg.Record]") -> None:
    await apply_schema(pool, "edge.config", SCHEMA)
    await create_outbox(pool)


def _change(row: asyncpg.Record) -> ChangeSet:
    return ChangeSet(row["version"], row["written_at"].timestamp(), orjson.loads(row["entries"]))


async def write(pool: "asyncpg.Pool[asyncpg.Record]", entries: dict[str, Any]) -> ChangeSet:
    """Append one change set (``None`` deletes a key); returns it with its version."""
    async with pool.acquire() as conn, conn.transaction():
        version = await conn.fetchval(
            "UPDATE config_head SET version = version + 1 RETURNING version"
        )
        row = await conn.fetchrow(
            "INSERT INTO config_log (version, written_at, entries) "
            "VALUES ($1, clock_timestamp(), $2::jsonb) RETURNING version, written_at, entries",
            version,
            orjson.dumps(entries).decode(),
        )
        assert row is not None
        change = _change(row)
        for key, value in entries.items():
            if value is None:
                await conn.execute("DELETE FROM config_entries WHERE key = $1", key)
            elif key != PURGE:  # a purge is an action for the PoPs, not state
                await conn.execute(
                    "INSERT INTO config_entries (key, value, version) VALUES ($1, $2::jsonb, $3) "
                    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, "
                    "version = EXCLUDED.version",
                    key,
                    orjson.dumps(value).decode(),
                    version,
                )
        # Committed with the change; every relay is kicked by the commit (outbox NOTIFY).
        await stage(conn, CONFIG_TOPIC.name, EVENTS.event(ConfigChanged.of(change)))
    return change


async def since(pool: "asyncpg.Pool[asyncpg.Record]", version: int) -> list[ChangeSet]:
    rows = await pool.fetch(
        "SELECT version, written_at, entries FROM config_log WHERE version > $1 ORDER BY version",
        version,
    )
    return [_change(row) for row in rows]


async def snapshot(pool: "asyncpg.Pool[asyncpg.Record]") -> tuple[int, dict[str, Any]]:
    """The current state and the version it is at, read consistently."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        version = await conn.fetchval("SELECT version FROM config_head")
        rows = await conn.fetch("SELECT key, value FROM config_entries")
    return int(version), {row["key"]: orjson.loads(row["value"]) for row in rows}


async def head(pool: "asyncpg.Pool[asyncpg.Record]") -> int:
    return int(await pool.fetchval("SELECT version FROM config_head"))
