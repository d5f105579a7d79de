"""The catalog on Cassandra: prepared statements, consistency chosen per query.

Viewing history is one wide row per profile, newest first (``CLUSTERING ORDER BY watched_at
DESC``), read with a LIMIT so reads stay bounded however long the history grows; entries
expire after a year (``default_time_to_live``) instead of being rolled up: old viewing says
little about what to watch next, and TTLs cost nothing at read time.

Consistency: history appends are high-volume and idempotent (same key, same values), so
``LOCAL_ONE``; titles and ratings are read and written at ``LOCAL_QUORUM`` so a rating a user
just gave is what they read back. On the one-node development server both are one replica.

Every statement meets the ``fault.cassandra`` flag first (:func:`guarded`), failing as the
driver fails when the cluster is gone, and is counted by name and outcome
(``catalog_cassandra_statements_total``): what ``catalog.cache=off`` costs shows there.
"""

import asyncio
from datetime import datetime
from importlib import resources
from typing import Any

from cassandra import ConsistencyLevel, OperationTimedOut
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    NoHostAvailable,
    ResponseFuture,
    Session,
)
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.policies import RoundRobinPolicy
from prometheus_client import CollectorRegistry, Counter

from stackkit.faults import FaultInjected, apply_fault
from stackkit.flags import ARMED_FAULTS
from stackkit.retrying import retry_until_available

SITE = "cassandra"
REQUEST_TIMEOUT_S = 10.0
"""The driver's request timeout (the execution profile's): an injected delay counts against it,
and an injected hang ends there, as a hung node's request does."""


class CassandraFaultInjected(FaultInjected, NoHostAvailable):  # type: ignore[misc]
    """Like a cluster that is gone: the driver's ``NoHostAvailable`` (measured on the CQL
    development server stopped under a connected session: raised at once, on every call)."""

    def __init__(self, site: str) -> None:
        # NoHostAvailable takes (message, errors by host); FaultInjected's init cannot give both.
        NoHostAvailable.__init__(self, f"fault injected at {site} (flag fault.{site})", {})
        self.site = site


class CassandraTimeoutFaultInjected(FaultInjected, OperationTimedOut):  # type: ignore[misc]
    """Like a node that stopped answering: the driver's ``OperationTimedOut`` at the request
    timeout."""

    def __init__(self, site: str) -> None:
        OperationTimedOut.__init__(self, errors=f"fault injected at {site} (flag fault.{site})")
        self.site = site


async def guarded() -> float:
    """Meet the ``fault.cassandra`` flag before a statement; the time left of the request
    timeout for the statement itself. Unarmed: one dict lookup."""
    fault = ARMED_FAULTS.get(SITE)
    if fault is None:
        return REQUEST_TIMEOUT_S
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            await apply_fault(SITE, fault, CassandraFaultInjected)
    except TimeoutError as exc:
        raise CassandraTimeoutFaultInjected(SITE) from exc
    return max(REQUEST_TIMEOUT_S - (loop.time() - started), 0.001)


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
    def __init__(
        self,
        cluster: Cluster,
        session: Session,
        keyspace: str,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._cluster = cluster
        self._session = session
        self._statements = Counter(
            "catalog_cassandra_statements",
            "CQL statements sent by the catalog, by statement and outcome (ok, error)",
            ["statement", "outcome"],
            registry=registry if registry is not None else CollectorRegistry(),
        )
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
        cls,
        contact_points: str,
        keyspace: str,
        *,
        timeout_s: float,
        registry: CollectorRegistry | None = None,
    ) -> "CatalogStore":
        """A session on the keyspace, its schema applied; statements counted on ``registry``."""
        hosts = [point.rsplit(":", 1) for point in contact_points.split(",") if point]

        async def open_session() -> tuple[Cluster, Session]:
            profile = ExecutionProfile(
                load_balancing_policy=RoundRobinPolicy(), request_timeout=REQUEST_TIMEOUT_S
            )
            cluster = Cluster(
                [host for host, _ in hosts],
                port=int(hosts[0][1]) if len(hosts[0]) > 1 else 9042,
                protocol_version=4,
                execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            )
            try:
                await guarded()  # an outage at start-up is waited out like a real one
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
        return cls(cluster, session, keyspace, registry)

    async def _execute(self, name: str, statement: Any, params: Any = None) -> Any:
        """One statement, after the fault site, counted: the rows of its first page."""
        try:
            timeout = await guarded()
            rows = await _await(self._session.execute_async(statement, params, timeout=timeout))
        except Exception:
            self._statements.labels(name, "error").inc()
            raise
        self._statements.labels(name, "ok").inc()
        return rows

    async def check(self) -> None:
        await self._execute("check", "SELECT release_version FROM system.local")

    def close(self) -> None:
        self._cluster.shutdown()

    async def put_title(
        self, title_id: str, name: str, genres: list[str], year: int, duration_s: int
    ) -> None:
        await self._execute(
            "put_title", self._put_title, (title_id, name, set(genres), year, duration_s)
        )

    async def put_titles(self, rows: list[tuple[str, str, list[str], int, int]]) -> None:
        """Many titles at once (seeding, benchmarks): the driver runs 64 writes at a time."""
        args = [
            (tid, name, set(genres), year, duration) for tid, name, genres, year, duration in rows
        ]
        try:
            await guarded()  # one call of the catalog's, however many writes the driver makes
            await asyncio.to_thread(
                execute_concurrent_with_args, self._session, self._put_title, args, concurrency=64
            )
        except Exception:
            self._statements.labels("put_titles", "error").inc()
            raise
        self._statements.labels("put_titles", "ok").inc()

    async def title(self, title_id: str) -> dict[str, Any] | None:
        rows = await self._execute("title", self._get_title, (title_id,))
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
        await self._execute(
            "append_history", self._append, (profile_id, watched_at, title_id, position_s)
        )

    async def history(self, profile_id: str, limit: int) -> list[dict[str, Any]]:
        rows = await self._execute("history", self._history, (profile_id, limit))
        return [
            {"watched_at": r.watched_at, "title_id": r.title_id, "position_s": r.position_s}
            for r in rows
        ]

    async def rate(self, profile_id: str, title_id: str, stars: int, rated_at: datetime) -> None:
        await self._execute("rate", self._rate, (profile_id, title_id, stars, rated_at))

    async def ratings(self, profile_id: str) -> dict[str, int]:
        rows = await self._execute("ratings", self._ratings, (profile_id,))
        return {r.title_id: r.stars for r in rows}
