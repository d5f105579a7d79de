"""An EVCache-style look-aside cache over Redis with zones.

Writes go to every zone; reads go to the local zone and fall back to the others on a miss,
repairing the local copy. A zone that fails is skipped for a second (a tiny circuit breaker),
and a cache that fails altogether degrades to the loader (Cassandra reads), never to errors.
A cold zone can be warmed from a warm one, as EVCache does when a zone is replaced.

Which zones a lookup uses is decided per lookup (``catalog.domain.cache_zones``) from the
policy in force: the ``catalog.cache`` switch (two zones, one zone, off) and the
``catalog.cacheZoneADown`` fault (zone ``a`` answers nothing), read from the flags by
:func:`policy_from_flags`. Every zone read and write is counted by zone and outcome.
"""

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, Counter
from redis.exceptions import RedisError

from catalog.domain.cache_zones import CacheMode, CachePolicy, invalidated_zones, plan_zones
from stackkit import flags
from stackkit.logs import get_logger

log = get_logger(__name__)
BREAK_S = 1.0
ZONE_A = "a"
CASSANDRA = "cassandra"
"""The ``to`` of a fallback past every zone: the loader's store."""
"""The zone ``catalog.cacheZoneADown`` takes away (the local zone, as the app names them)."""
TODAY = CachePolicy()


def policy_from_flags() -> CachePolicy:
    """The policy the stack's flags say is in force now (two dict reads)."""
    return CachePolicy(
        mode=CacheMode(flags.choice("catalog.cache")),
        down=frozenset({ZONE_A}) if flags.is_on("catalog.cacheZoneADown") else frozenset(),
    )


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
    policy: Callable[[], CachePolicy] = lambda: TODAY
    """Asked once per lookup, write or invalidation: the flags' answer in the app."""

    def __post_init__(self) -> None:
        self.lookups = Counter(
            "cache_lookups_total",
            "Cache lookups by result (hit, miss; bypass: catalog.cache=off)",
            ["result"],
            registry=self.registry,
        )
        self.zone_reads = Counter(
            "catalog_cache_reads",
            "Zone reads by zone and outcome (hit, miss, error; unavailable: the zone is down"
            " or its breaker open, so it was not asked)",
            ["zone", "outcome"],
            registry=self.registry,
        )
        self.zone_writes = Counter(
            "catalog_cache_writes",
            "Zone writes by zone and operation (set: a fill or a repair; delete: invalidation)",
            ["zone", "op"],
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "catalog_cache_fallbacks",
            "Reads the local zone could not serve (a miss, an error, or the zone down) served"
            " by the next source: the other zone, or cassandra when no zone had it",
            ["from_zone", "to"],
            registry=self.registry,
        )
        self.repairs = Counter(
            "catalog_cache_repairs",
            "Copies written back into the local zone after it missed and the other zone hit",
            ["zone"],
            registry=self.registry,
        )
        self.hits = self.misses = 0
        self._by_name = {zone.name: zone for zone in self.zones}
        self._local = self.zones[0].name if self.zones else ""
        # Every series from the start, so that a rate over them exists before the first miss.
        for source in [*(zone.name for zone in self.zones[1:]), CASSANDRA]:
            self.fallbacks.labels(self._local, source)
        self.repairs.labels(self._local)

    @property
    def hit_ratio(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def _plan(self, policy: CachePolicy, *, reading: bool) -> list[Zone]:
        """The zones one lookup (or write) uses; a read counts the ones the policy took down."""
        plan = plan_zones(policy, [zone.name for zone in self.zones])
        if reading:
            for name in plan.unavailable:
                self.zone_reads.labels(name, "unavailable").inc()
        return [self._by_name[name] for name in plan.use]

    async def _get(self, zone: Zone, key: str) -> bytes | None:
        if not zone.up:
            self.zone_reads.labels(zone.name, "unavailable").inc()
            return None
        try:
            value = await zone.client.get(key)
        except (RedisError, OSError) as error:
            self.zone_reads.labels(zone.name, "error").inc()
            zone.trip(error)
            return None
        self.zone_reads.labels(zone.name, "miss" if value is None else "hit").inc()
        return value.encode() if isinstance(value, str) else value

    async def _set(self, zone: Zone, key: str, value: bytes, ttl_s: int) -> bool:
        if not zone.up:
            return False
        try:
            await zone.client.set(key, value, ex=ttl_s)
        except (RedisError, OSError) as error:
            zone.trip(error)
            return False
        self.zone_writes.labels(zone.name, "set").inc()
        return True

    async def get(self, key: str) -> bytes | None:
        return await self._get_from(self._plan(self.policy(), reading=True), key)

    async def _get_from(self, zones: list[Zone], key: str) -> bytes | None:
        for n, zone in enumerate(zones):
            value = await self._get(zone, key)
            if value is not None:
                if zone.name != self._local:
                    # The local zone missed, failed or is down; the policy may have taken it
                    # out of ``zones`` altogether (then there is nothing to repair).
                    self.fallbacks.labels(self._local, zone.name).inc()
                if n > 0 and await self._set(zones[0], key, value, self.ttl_s):
                    self.repairs.labels(zones[0].name).inc()  # the local zone, repaired
                return value
        return None

    async def set(self, key: str, value: bytes, ttl_s: int | None = None) -> None:
        await self._set_in(self._plan(self.policy(), reading=False), key, value, ttl_s)

    async def _set_in(
        self, zones: list[Zone], key: str, value: bytes, ttl_s: int | None = None
    ) -> None:
        for zone in zones:
            await self._set(zone, key, value, ttl_s or self.ttl_s)

    async def invalidate(self, key: str) -> None:
        names = invalidated_zones(self.policy(), self._by_name)
        for zone in (self._by_name[name] for name in names):
            if zone.up:
                try:
                    await zone.client.delete(key)
                except (RedisError, OSError) as error:
                    zone.trip(error)
                    continue
                self.zone_writes.labels(zone.name, "delete").inc()

    async def get_or_load(
        self, key: str, load: Callable[[], Awaitable[bytes | None]], ttl_s: int | None = None
    ) -> bytes | None:
        """Look-aside: the cached value, else the loader's (cached for next time). With the
        cache off, always the loader's."""
        policy = self.policy()
        if policy.mode is CacheMode.OFF:
            self.lookups.labels("bypass").inc()
            return await load()
        zones = self._plan(policy, reading=True)
        value = await self._get_from(zones, key)
        if value is not None:
            self.hits += 1
            self.lookups.labels("hit").inc()
            return value
        self.misses += 1
        self.lookups.labels("miss").inc()
        self.fallbacks.labels(self._local, CASSANDRA).inc()
        value = await load()
        if value is not None:
            await self._set_in(zones, key, value, ttl_s)  # the zones this lookup read
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
