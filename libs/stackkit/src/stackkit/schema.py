"""Applying a service's schema at start-up, safely when several replicas start at once."""

import asyncpg


async def apply_schema(pool: "asyncpg.Pool[asyncpg.Record]", name: str, ddl: str) -> None:
    """Run idempotent DDL (``CREATE ... IF NOT EXISTS``) under a lock named ``name``.

    Two concurrent ``CREATE TABLE IF NOT EXISTS`` of one table can still fail in Postgres
    (a unique violation in its catalog), so replicas take turns on an advisory lock.
    """
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", name)
        await conn.execute(ddl)
