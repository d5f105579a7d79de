"""The zoned look-aside cache on two real Redis servers."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from catalog.domain.cache_zones import CacheMode, CachePolicy
from catalog.evcache import Zone, ZonedCache, warm
from devstack.servers import RedisServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def zone_servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RedisServer, RedisServer]]:
    root: Path = tmp_path_factory.mktemp("zones")
    a, b = RedisServer(root / "zone-a"), RedisServer(root / "zone-b")
    a.start()
    b.start()
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


@pytest.fixture
async def zones(
    zone_servers: tuple[RedisServer, RedisServer],
) -> AsyncIterator[tuple[aioredis.Redis, aioredis.Redis]]:
    a, b = (
        aioredis.Redis.from_url(s.url, socket_connect_timeout=0.3, socket_timeout=0.5)
        for s in zone_servers
    )
    await a.flushdb()
    await b.flushdb()
    yield a, b
    await a.aclose()
    await b.aclose()


class Loader:
    def __init__(self, value: bytes | None = b"from cassandra") -> None:
        self.value = value
        self.calls = 0

    async def __call__(self) -> bytes | None:
        self.calls += 1
        return self.value


async def test_look_aside_hits_after_one_load_and_invalidates(
    zones: tuple[aioredis.Redis, aioredis.Redis],
) -> None:
    cache = ZonedCache([Zone("a", zones[0]), Zone("b", zones[1])], ttl_s=60)
    load = Loader()
    assert await cache.get_or_load("title:1", load) == b"from cassandra"
    assert await cache.get_or_load("title:1", load) == b"from cassandra"
    assert load.calls == 1 and cache.hit_ratio == 0.5
    assert await zones[1].get("title:1") == b"from cassandra", "writes go to every zone"
    assert 0 < await zones[0].ttl("title:1") <= 60
    await cache.invalidate("title:1")
    assert await zones[0].get("title:1") is None and await zones[1].get("title:1") is None
    await cache.get_or_load("title:1", load)
    assert load.calls == 2


async def test_a_local_miss_falls_back_to_the_other_zone_and_repairs(
    zones: tuple[aioredis.Redis, aioredis.Redis],
) -> None:
    cache = ZonedCache([Zone("a", zones[0]), Zone("b", zones[1])])
    await zones[1].set("title:2", b"only in b")
    load = Loader()
    assert await cache.get_or_load("title:2", load) == b"only in b"
    assert load.calls == 0
    assert await zones[0].get("title:2") == b"only in b"


async def test_a_cold_zone_is_warmed_from_the_warm_one(
    zones: tuple[aioredis.Redis, aioredis.Redis],
) -> None:
    warm_zone, cold_zone = zones
    for n in range(1200):
        await warm_zone.set(f"title:{n}", f"v{n}", ex=300)
    await warm_zone.set("forever", "v")
    copied = await warm(warm_zone, cold_zone)
    assert copied == 1201
    assert await cold_zone.get("title:777") == b"v777"
    assert 0 < await cold_zone.ttl("title:777") <= 300
    assert await cold_zone.ttl("forever") == -1


async def test_an_outage_degrades_to_the_loader_never_to_errors(
    zone_servers: tuple[RedisServer, RedisServer],
) -> None:
    dead = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    alive = aioredis.Redis.from_url(zone_servers[1].url)
    await alive.flushdb()
    try:
        cache = ZonedCache([Zone("dead", dead), Zone("alive", alive)])
        load = Loader(b"fresh")
        assert await cache.get_or_load("title:3", load) == b"fresh"
        assert await cache.get_or_load("title:3", load) == b"fresh", "served by the live zone"
        assert load.calls == 1
        everything_down = ZonedCache([Zone("dead", dead)])
        assert await everything_down.get_or_load("title:4", load) == b"fresh"
        await everything_down.set("title:4", b"x")
        await everything_down.invalidate("title:4")
    finally:
        await dead.aclose()
        await alive.aclose()


class Policy:
    """The policy in force, changed by the test as a flip would."""

    def __init__(self) -> None:
        self.now = CachePolicy()

    def __call__(self) -> CachePolicy:
        return self.now


def counted(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_one_zone_reads_and_fills_the_local_zone_only(
    zones: tuple[aioredis.Redis, aioredis.Redis],
) -> None:
    policy, registry = Policy(), CollectorRegistry()
    cache = ZonedCache([Zone("a", zones[0]), Zone("b", zones[1])], registry=registry, policy=policy)
    policy.now = CachePolicy(CacheMode.ONE_ZONE)
    await zones[1].set("title:5", b"only in b")
    load = Loader()
    assert await cache.get_or_load("title:5", load) == b"from cassandra", "b is not read"
    assert await cache.get_or_load("title:6", load) == b"from cassandra"
    assert await zones[0].get("title:6") == b"from cassandra"
    assert await zones[1].get("title:6") is None, "nothing replicated to b"
    assert counted(registry, "catalog_cache_writes_total", zone="b", op="set") == 0
    assert counted(registry, "catalog_cache_reads_total", zone="b", outcome="miss") == 0
    assert counted(registry, "catalog_cache_writes_total", zone="a", op="set") == 2
    await cache.invalidate("title:5")
    assert await zones[1].get("title:5") is None, "invalidations still reach b"


async def test_off_sends_every_lookup_to_the_loader_and_touches_no_zone(
    zones: tuple[aioredis.Redis, aioredis.Redis],
) -> None:
    policy, registry = Policy(), CollectorRegistry()
    cache = ZonedCache([Zone("a", zones[0]), Zone("b", zones[1])], registry=registry, policy=policy)
    load = Loader()
    await cache.get_or_load("title:7", load)
    policy.now = CachePolicy(CacheMode.OFF)
    for _ in range(3):
        assert await cache.get_or_load("title:7", load) == b"from cassandra"
    assert load.calls == 4
    assert counted(registry, "cache_lookups_total", result="bypass") == 3
    assert counted(registry, "catalog_cache_reads_total", zone="a", outcome="miss") == 1
    assert counted(registry, "catalog_cache_reads_total", zone="a", outcome="hit") == 0
    policy.now = CachePolicy()
    assert await cache.get_or_load("title:7", load) == b"from cassandra"
    assert load.calls == 4, "back on: the zones' copy serves again"


async def test_with_zone_a_down_reads_fall_back_to_b_and_fills_go_to_b(
    zones: tuple[aioredis.Redis, aioredis.Redis],
) -> None:
    policy, registry = Policy(), CollectorRegistry()
    cache = ZonedCache([Zone("a", zones[0]), Zone("b", zones[1])], registry=registry, policy=policy)
    load = Loader()
    await cache.get_or_load("title:8", load)  # in both zones
    policy.now = CachePolicy(down=frozenset({"a"}))
    await zones[0].set("title:8", b"a is not asked")
    assert await cache.get_or_load("title:8", load) == b"from cassandra", "served by b"
    assert await cache.get_or_load("title:9", load) == b"from cassandra"
    assert load.calls == 2
    assert await zones[0].get("title:9") is None and await zones[1].get("title:9") is not None
    assert counted(registry, "catalog_cache_reads_total", zone="a", outcome="unavailable") == 2
    assert counted(registry, "catalog_cache_reads_total", zone="b", outcome="hit") == 1
