"""Live dispatch workers by heartbeat, and the consistent-hash ring over them.

Every worker writes its heartbeat (a score in ``dispatch:workers``) and its address each
``heartbeat_s``; a worker silent for ``member_ttl_s`` is off the ring, so its areas move to the
others within seconds of its death. A worker stopping gracefully takes itself off at once.

Each re-read of the ring (every heartbeat, and on demand at most every half second) compares it
with the last: a change that moves this worker's areas is counted by why it happened (a worker
joined, left, or expired: still listed with a heartbeat older than the time to live).
"""

import time
from collections.abc import Callable
from typing import cast

import redis.asyncio as aioredis

from dispatch.domain.ownership import HashRing, RingChange, ownership_changes
from stackkit.connections import as_text
from stackkit.logs import get_logger

log = get_logger(__name__)

WORKERS_KEY = "dispatch:workers"
ADDRESSES_KEY = "dispatch:worker_urls"


class Membership:
    def __init__(
        self,
        redis: "aioredis.Redis",
        worker_id: str,
        url: str,
        member_ttl_s: float,
        on_change: Callable[[RingChange], None] = lambda _change: None,
    ) -> None:
        """``on_change`` hears of every change of the areas this worker owns."""
        self._redis = redis
        self._on_change = on_change
        self.worker_id = worker_id
        self.url = url
        self._ttl_s = member_ttl_s
        self._ring: HashRing | None = None
        self._ring_at = 0.0
        self._urls: dict[str, str] = {}

    async def heartbeat(self) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(WORKERS_KEY, {self.worker_id: time.time()})
            pipe.hset(ADDRESSES_KEY, self.worker_id, self.url)
            pipe.zremrangebyscore(WORKERS_KEY, "-inf", time.time() - 60 * self._ttl_s)
            await pipe.execute()
        # Re-read here too, so that a change of ownership is seen (and counted) within a
        # heartbeat even while no trip asks.
        await self.ring(fresh=True)

    async def ring(self, *, fresh: bool = False) -> HashRing:
        """The ring of live workers, re-read at most every half second (``fresh``: now)."""
        if fresh or self._ring is None or time.monotonic() - self._ring_at > 0.5:
            # Every listed worker with its last heartbeat: the silent ones are the expired.
            listed = cast(
                "list[tuple[bytes | str, float]]",
                await self._redis.zrange(WORKERS_KEY, 0, -1, withscores=True),
            )
            urls = await self._redis.hgetall(ADDRESSES_KEY)
            oldest = time.time() - self._ttl_s
            beats = {as_text(m): float(at) for m, at in listed}
            members = {m for m, at in beats.items() if at >= oldest} | {self.worker_id}
            expired = set(beats) - members
            self._urls = {as_text(k): as_text(v) for k, v in urls.items()}
            # Compared with the ring as it is after the reads: two refreshes at once do not
            # both count the same change.
            before = self._ring.members if self._ring is not None else frozenset()
            self._ring = HashRing(members)
            self._ring_at = time.monotonic()
            self._count_changes(before, self._ring.members, frozenset(expired))
        return self._ring

    def _count_changes(
        self, before: frozenset[str], after: frozenset[str], expired: frozenset[str]
    ) -> None:
        for change in ownership_changes(before, after, expired, self.worker_id):
            log.info("area_ownership_changed", reason=change.value, workers=sorted(after))
            self._on_change(change)

    async def owner(self, area: str) -> tuple[str, str]:
        """(worker id, its URL) owning ``area``."""
        ring = await self.ring()
        worker = ring.owner(area)
        return worker, self._urls.get(worker, self.url)

    async def leave(self) -> None:
        await self._redis.zrem(WORKERS_KEY, self.worker_id)
        # Its areas are no longer its own (the ring object stays: a request in flight still
        # decides where it is).
        log.info("area_ownership_changed", reason=RingChange.LEFT.value, workers=[])
        self._on_change(RingChange.LEFT)
