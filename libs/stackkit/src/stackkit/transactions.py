"""SERIALIZABLE transactions that retry on serialization failures and deadlocks."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeAlias, TypeVar

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from stackkit.errors import Contended
from stackkit.logs import get_logger

T = TypeVar("T")
Connection: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"
RETRYABLE = (asyncpg.SerializationError, asyncpg.DeadlockDetectedError)

log = get_logger(__name__)


async def serializable(
    pool: asyncpg.Pool[asyncpg.Record],
    work: Callable[[Connection], Awaitable[T]],
    *,
    attempts: int = 30,
) -> T:
    """Run ``work`` in one SERIALIZABLE transaction, retrying it from the top on conflict.

    ``work`` must be safe to run again: everything it does is inside the transaction. After
    ``attempts`` conflicts in a row it raises :class:`Contended` (a 503 the client may retry),
    never the driver's error (a 500).
    """
    for attempt in range(1, attempts + 1):
        try:
            async with pool.acquire() as conn, conn.transaction(isolation="serializable"):
                # A sequential scan takes a predicate lock on the whole table, so on small tables
                # every concurrent writer "conflicts"; index scans lock only what they read.
                await conn.execute("SET LOCAL enable_seqscan = off")
                return await work(conn)
        except RETRYABLE as exc:
            if attempt == attempts:
                log.warning("serialization_retries_exhausted", attempts=attempts)
                raise Contended(
                    "This object cannot be changed right now because concurrent requests are "
                    "changing what it depends on. Retry the request."
                ) from exc
            log.debug("serialization_retry", attempt=attempt, error=type(exc).__name__)
            await asyncio.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
    raise AssertionError("unreachable")
