"""Live dispatch workers by heartbeat, and the consistent-hash ring over them.

Every worker writes its heartbeat (a score in ``dispatch:workers``) and its address each
``heartbeat_s``; a worker silent for ``member_ttl_s`` is off the ring, so its areas move to the
others within seconds of its death.
"""

import time

import redis.asyncio as aioredis

from dispatch.domain.ownership import HashRing
from stackkit.connections import as_text

WORKERS_KEY = "dispatch:workers"
ADDRESSES_KEY = "dispatch:worker_urls"


class Membership:
    def __init__(
        self, redis: "aioredis.Redis", worker_id: str, url: str, member_ttl_s: float
    ) -> None:
        self._redis = redis
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

    async def ring(self) -> HashRing:
        """The ring of live workers, re-read at most every half second."""
        if self._ring is None or time.monotonic() - self._ring_at > 0.5:
            live = await self._redis.zrangebyscore(WORKERS_KEY, time.time() - self._ttl_s, "+inf")
            members = {as_text(m) for m in live if isinstance(m, bytes | str)} | {self.worker_id}
            urls = await self._redis.hgetall(ADDRESSES_KEY)
            self._urls = {as_text(k): as_text(v) for k, v in urls.items()}
            self._ring = HashRing(members)
            self._ring_at = time.monotonic()
        return self._ring

    async def owner(self, area: str) -> tuple[str, str]:
        """(worker id, its URL) owning ``area``."""
        ring = await self.ring()
        worker = ring.owner(area)
        return worker, self._urls.get(worker, self.url)

    async def leave(self) -> None:
        await self._redis.zrem(WORKERS_KEY, self.worker_id)
