"""The catalog on Cassandra: prepared statements, consistency chosen per query.

Viewing history is one wide row per profile, newest first (``CLUSTERING ORDER BY watched_at
DESC``), read with a LIMIT so reads stay bounded however long the history grows; entries
expire after a year (``default_time_to_live``) instead of being rolled up: old viewing says
little about what to watch next, and TTLs cost nothing at read time.

Consistency: history appends are high-volume and idempotent (same key, same values), so
``LOCAL_ONE``; titles and ratings are read and written at ``LOCAL_QUORUM`` so a rating a user
just gave is what they read back. On the one-node development server both are one replica.
"""

import asyncio
from datetime import datetime
from importlib import resources
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    ResponseFuture,
    Session,
)
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.policies import RoundRobinPolicy

from stackkit.retrying import retry_until_available


def _await(future: ResponseFuture) -> "asyncio.Future[Any]":
    """The driver's future as an asyncio one; it resolves to the rows of the first page (every
    query here is bounded well below the 5,000-row page)."""
    loop = asyncio.get_running_loop()
    result: asyncio.Future[Any] = loop.create_future()
    future.add_callbacks(
        lambda rows: loop.call_soon_threadsafe(result.set_result, rows),
        lambda error: loop.call_soon_threadsafe(result.set_exception, error),
    )
    return result


class CatalogStore:
    def __init__(self, cluster: Cluster, session: Session, keyspace: str) -> None:
        self._cluster = cluster
        self._session = session
        ks = keyspace

        def prepare(cql: str, level: int) -> Any:
            statement = session.prepare(cql)
            statement.consistency_level = level
            return statement

        quorum, one = ConsistencyLevel.LOCAL_QUORUM, ConsistencyLevel.LOCAL_ONE
        self._put_title = prepare(
            f"INSERT INTO {ks}.titles (title_id, name, genres, year, duration_s) "
            "VALUES (?, ?, ?, ?, ?)",
            quorum,
        )
        self._get_title = prepare(f"SELECT * FROM {ks}.titles WHERE title_id = ?", quorum)
        self._append = prepare(
            f"INSERT INTO {ks}.viewing_history (profile_id, watched_at, title_id, position_s) "
            "VALUES (?, ?, ?, ?)",
            one,
        )
        self._history = prepare(
            f"SELECT watched_at, title_id, position_s FROM {ks}.viewing_history "
            "WHERE profile_id = ? LIMIT ?",
            one,
        )
        self._rate = prepare(
            f"INSERT INTO {ks}.ratings (profile_id, title_id, stars, rated_at) VALUES (?, ?, ?, ?)",
            quorum,
        )
        self._ratings = prepare(
            f"SELECT title_id, stars FROM {ks}.ratings WHERE profile_id = ?", quorum
        )

    @classmethod
    async def connect(
        cls, contact_points: str, keyspace: str, *, timeout_s: float
    ) -> "CatalogStore":
        hosts = [point.rsplit(":", 1) for point in contact_points.split(",") if point]

        async def open_session() -> tuple[Cluster, Session]:
            profile = ExecutionProfile(load_balancing_policy=RoundRobinPolicy(), request_timeout=10)
            cluster = Cluster(
                [host for host, _ in hosts],
                port=int(hosts[0][1]) if len(hosts[0]) > 1 else 9042,
                protocol_version=4,
                execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            )
            try:
                return cluster, await asyncio.to_thread(cluster.connect)
            except Exception:
                cluster.shutdown()
                raise

        cluster, session = await retry_until_available(
            open_session, what="cassandra", timeout_s=timeout_s
        )
        ddl = resources.files("catalog").joinpath("schema.cql").read_text()
        for statement in ddl.split(";"):
            lines = [line for line in statement.splitlines() if not line.strip().startswith("--")]
            cql = "\n".join(lines).strip().replace("{keyspace}", keyspace)
            if cql:
                await asyncio.to_thread(session.execute, cql)
        return cls(cluster, session, keyspace)

    async def check(self) -> None:
        await _await(self._session.execute_async("SELECT release_version FROM system.local"))

    def close(self) -> None:
        self._cluster.shutdown()

    async def put_title(
        self, title_id: str, name: str, genres: list[str], year: int, duration_s: int
    ) -> None:
        await _await(
            self._session.execute_async(
                self._put_title, (title_id, name, set(genres), year, duration_s)
            )
        )

    async def put_titles(self, rows: list[tuple[str, str, list[str], int, int]]) -> None:
        """Many titles at once (seeding, benchmarks): the driver runs 64 writes at a time."""
        args = [
            (tid, name, set(genres), year, duration) for tid, name, genres, year, duration in rows
        ]
        await asyncio.to_thread(
            execute_concurrent_with_args, self._session, self._put_title, args, concurrency=64
        )

    async def title(self, title_id: str) -> dict[str, Any] | None:
        rows = await _await(self._session.execute_async(self._get_title, (title_id,)))
        if not rows:
            return None
        row = rows[0]
        return {
            "title_id": row.title_id,
            "name": row.name,
            "genres": sorted(row.genres or ()),
            "year": row.year,
            "duration_s": row.duration_s,
        }

    async def append_history(
        self, profile_id: str, watched_at: datetime, title_id: str, position_s: int
    ) -> None:
        await _await(
            self._session.execute_async(
                self._append, (profile_id, watched_at, title_id, position_s)
            )
        )

    async def history(self, profile_id: str, limit: int) -> list[dict[str, Any]]:
        rows = await _await(self._session.execute_async(self._history, (profile_id, limit)))
        return [
            {"watched_at": r.watched_at, "title_id": r.title_id, "position_s": r.position_s}
            for r in rows
        ]

    async def rate(self, profile_id: str, title_id: str, stars: int, rated_at: datetime) -> None:
        await _await(
            self._session.execute_async(self._rate, (profile_id, title_id, stars, rated_at))
        )

    async def ratings(self, profile_id: str) -> dict[str, int]:
        rows = await _await(self._session.execute_async(self._ratings, (profile_id,)))
        return {r.title_id: r.stars for r in rows}
