"""The zoned look-aside cache on two real Redis servers."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

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
