"""An EVCache-style look-aside cache over Redis with zones.

Writes go to every zone; reads go to the local zone and fall back to the others on a miss,
repairing the local copy. A zone that fails is skipped for a second (a tiny circuit breaker),
and a cache that fails altogether degrades to the loader (Cassandra reads), never to errors.
A cold zone can be warmed from a warm one, as EVCache does when a zone is replaced.
"""

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, Counter
from redis.exceptions import RedisError

from stackkit.logs import get_logger

log = get_logger(__name__)
BREAK_S = 1.0


@dataclass
class Zone:
    name: str
    client: "aioredis.Redis"
    down_until: float = 0.0

    @property
    def up(self) -> bool:
        return time.monotonic() >= self.down_until

    def trip(self, error: Exception) -> None:
        log.warning("cache_zone_down", zone=self.name, error=repr(error))
        self.down_until = time.monotonic() + BREAK_S


@dataclass
class ZonedCache:
    zones: list[Zone]
    """The local zone first."""
    ttl_s: int = 3600
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.lookups = Counter(
            "cache_lookups_total", "Cache lookups by result", ["result"], registry=self.registry
        )
        self.hits = self.misses = 0

    @property
    def hit_ratio(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    async def _get(self, zone: Zone, key: str) -> bytes | None:
        if not zone.up:
            return None
        try:
            value = await zone.client.get(key)
        except (RedisError, OSError) as error:
            zone.trip(error)
            return None
        return value.encode() if isinstance(value, str) else value

    async def _set(self, zone: Zone, key: str, value: bytes, ttl_s: int) -> None:
        if not zone.up:
            return
        try:
            await zone.client.set(key, value, ex=ttl_s)
        except (RedisError, OSError) as error:
            zone.trip(error)

    async def get(self, key: str) -> bytes | None:
        local, *others = self.zones
        value = await self._get(local, key)
        if value is not None:
            return value
        for zone in others:
            value = await self._get(zone, key)
            if value is not None:
                await self._set(local, key, value, self.ttl_s)  # repair the local zone
                return value
        return None

    async def set(self, key: str, value: bytes, ttl_s: int | None = None) -> None:
        for zone in self.zones:
            await self._set(zone, key, value, ttl_s or self.ttl_s)

    async def invalidate(self, key: str) -> None:
        for zone in self.zones:
            if zone.up:
                try:
                    await zone.client.delete(key)
                except (RedisError, OSError) as error:
                    zone.trip(error)

    async def get_or_load(
        self, key: str, load: Callable[[], Awaitable[bytes | None]], ttl_s: int | None = None
    ) -> bytes | None:
        """Look-aside: the cached value, else the loader's (cached for next time)."""
        value = await self.get(key)
        if value is not None:
            self.hits += 1
            self.lookups.labels("hit").inc()
            return value
        self.misses += 1
        self.lookups.labels("miss").inc()
        value = await load()
        if value is not None:
            await self.set(key, value, ttl_s)
        return value


async def warm(
    source: "aioredis.Redis", target: "aioredis.Redis", *, match: str = "*", batch: int = 500
) -> int:
    """Copy every key (with its remaining TTL) from a warm zone into a cold one."""
    copied = 0
    async for keys in _scan_batches(source, match, batch):
        async with source.pipeline(transaction=False) as read:
            for key in keys:
                read.get(key)
                read.pttl(key)
            values = await read.execute()
        async with target.pipeline(transaction=False) as write:
            for key, value, ttl in zip(keys, values[0::2], values[1::2], strict=True):
                if value is not None:
                    write.set(key, value, px=ttl if ttl and ttl > 0 else None)
                    copied += 1
            await write.execute()
    return copied


async def _scan_batches(
    client: "aioredis.Redis", match: str, count: int
) -> AsyncIterator[list[bytes | str]]:
    cursor = 0
    while True:
        cursor, keys = await client.scan(cursor=cursor, match=match, count=count)
        if keys:
            yield keys
        if cursor == 0:
            return
