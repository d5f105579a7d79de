"""The one place that speaks SQL for dispatch."""

from importlib import resources
from typing import Any

import asyncpg

from stackkit.schema import apply_schema
from stackkit.transactions import Connection

Row = dict[str, Any]


async def ensure_schema(pool: "asyncpg.Pool[asyncpg.Record]") -> None:
    ddl = resources.files("dispatch").joinpath("schema.sql").read_text()
    await apply_schema(pool, "dispatch.schema", ddl)


async def insert_trip(conn: Connection, trip: Row) -> None:
    columns = list(trip)
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    await conn.execute(
        f"INSERT INTO trips ({', '.join(columns)}) VALUES ({placeholders})", *trip.values()
    )


async def get_trip(conn: Connection, trip_id: str, *, lock: bool = False) -> Row | None:
    record = await conn.fetchrow(
        f"SELECT * FROM trips WHERE id = $1{' FOR UPDATE' if lock else ''}", trip_id
    )
    return dict(record) if record else None


async def update_trip(conn: Connection, trip_id: str, **fields: Any) -> None:
    names = list(fields)
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=2))
    await conn.execute(
        f"UPDATE trips SET {assignments}, updated = now() WHERE id = $1",
        trip_id,
        *fields.values(),
    )


async def record_transition(
    conn: Connection,
    trip_id: str,
    before: str | None,
    after: str,
    action: str,
    driver_id: str | None,
) -> None:
    await conn.execute(
        "INSERT INTO trip_transitions (trip_id, from_status, to_status, action, driver_id) "
        "VALUES ($1, $2, $3, $4, $5)",
        trip_id,
        before,
        after,
        action,
        driver_id,
    )


async def driver_is_busy(conn: Connection, driver_id: str) -> bool:
    busy: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM trips WHERE driver_id = $1 "
        "AND status IN ('accepted', 'arrived', 'in_progress'))",
        driver_id,
    )
    return busy


async def expired_offers(conn: Connection, limit: int = 50) -> list[str]:
    """Dispatching trips whose offer ran out, or that a dead worker left without an offer."""
    records = await conn.fetch(
        "SELECT id FROM trips WHERE status = 'dispatching' AND (offer_expires_at < now() "
        "OR (offered_driver IS NULL AND updated < now() - interval '5 seconds')) "
        "ORDER BY updated LIMIT $1",
        limit,
    )
    return [r["id"] for r in records]
