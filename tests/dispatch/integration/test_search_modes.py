"""Every ``dispatch.search`` mode (H3 rings, GEOSEARCH, full scan) against real Redis gives the
brute-force answer, in the awkward places too (poles, antimeridian, a pentagon), and keeps
giving it as drivers go busy, come back, move and go stale. The index is the service's own
``LocationIndex``; the Redis database is this module's alone, so a full scan sees only its
drivers."""

import random
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from devstack.servers import RedisServer
from dispatch.domain.geo import Point
from dispatch.domain.search import Candidate, Nearby, SearchMode, nearest
from dispatch.locations import GEO_KEY, POLAR_KEY, LocationIndex, LocationUpdate, SearchMetrics
from tests.dispatch.drivers import HOTSPOTS, drivers_around

pytestmark = pytest.mark.integration

DATABASE = 11
"""A Redis database no other test writes to."""
STALE_AFTER_S = 60.0


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator["aioredis.Redis"]:
    client = aioredis.Redis.from_url(redis_server.url.rsplit("/", 1)[0] + f"/{DATABASE}")
    await client.flushdb()
    try:
        yield client
    finally:
        await client.flushdb()
        await client.aclose()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def index(redis: "aioredis.Redis", registry: CollectorRegistry) -> LocationIndex:
    return LocationIndex(redis, stale_after_s=STALE_AFTER_S, metrics=SearchMetrics(registry))


def now_ms() -> int:
    return int(time.time() * 1000)


async def place(index: LocationIndex, drivers: dict[str, Point], status: str = "available") -> None:
    ts = now_ms()
    await index.update([LocationUpdate(d, p, status, ts) for d, p in drivers.items()])


def brute_force(
    drivers: dict[str, Point], origin: Point, radius_m: float, limit: int
) -> list[Nearby]:
    return nearest([Candidate(d, p) for d, p in drivers.items()], origin, radius_m, limit)


async def assert_every_mode_is_brute_force(
    index: LocationIndex, drivers: dict[str, Point], origin: Point, radius_m: float, limit: int
) -> None:
    expected = brute_force(drivers, origin, radius_m, limit)
    for mode in SearchMode:
        got = await index.nearby(origin, radius_m, limit, now_ms(), mode)
        assert [n.driver_id for n in got] == [n.driver_id for n in expected], (mode, origin)
        assert [n.distance_m for n in got] == pytest.approx(
            [n.distance_m for n in expected], abs=1e-6
        )


@pytest.mark.parametrize("where", sorted(HOTSPOTS))
async def test_every_mode_returns_the_brute_force_answer(index: LocationIndex, where: str) -> None:
    rng = random.Random(where)
    drivers = {
        f"{where}-{i}": p for i, p in enumerate(drivers_around(rng, HOTSPOTS[where], 400, 0.08))
    }
    await place(index, drivers)
    for _ in range(8):
        origin = drivers_around(rng, HOTSPOTS[where], 1, 0.06)[0]
        radius, limit = rng.choice([300, 2000, 8000, 50_000]), rng.choice([1, 10, 100])
        await assert_every_mode_is_brute_force(index, drivers, origin, radius, limit)


async def test_the_geo_sets_follow_status_moves_and_silence(
    index: LocationIndex, redis: "aioredis.Redis"
) -> None:
    centre = Point(48.8566, 2.3522)
    run = uuid.uuid4().hex[:6]
    drivers = {f"{run}-{i}": Point(centre.lat + 0.0005 * i, centre.lng) for i in range(6)}
    await place(index, drivers)
    assert await redis.zcard(GEO_KEY) == 6

    busy = f"{run}-0"
    assert await index.set_status(busy, "on_trip")
    free = {d: p for d, p in drivers.items() if d != busy}
    await assert_every_mode_is_brute_force(index, free, centre, 2000, 10)
    assert await index.set_status(busy, "available")
    await assert_every_mode_is_brute_force(index, drivers, centre, 2000, 10)

    # Moving to the polar cap (past what a geo set holds) and back.
    mover = f"{run}-1"
    await place(index, {mover: Point(88.0, 10.0)})
    assert await redis.sismember(POLAR_KEY, mover) and await redis.zscore(GEO_KEY, mover) is None
    await place(index, {mover: drivers[mover]})
    assert not await redis.sismember(POLAR_KEY, mover)
    await assert_every_mode_is_brute_force(index, drivers, centre, 2000, 10)

    # Offline drivers leave every index; silent ones drop out of every mode's answer.
    gone = f"{run}-2"
    await place(index, {gone: drivers[gone]}, status="offline")
    assert await redis.zscore(GEO_KEY, gone) is None
    silent = f"{run}-silent"
    old = now_ms() - int(STALE_AFTER_S * 1000) - 5000
    await index.update([LocationUpdate(silent, centre, "available", old)])
    assert await redis.zscore(GEO_KEY, silent) is not None, "kept until its hash expires"
    left = {d: p for d, p in drivers.items() if d != gone}
    await assert_every_mode_is_brute_force(index, left, centre, 2000, 10)


async def test_a_driver_whose_hash_expired_leaves_the_geo_set_when_met(
    index: LocationIndex, redis: "aioredis.Redis"
) -> None:
    here = Point(-23.55, -46.63)
    await place(index, {"expired": here, "kept": Point(-23.5501, -46.63)})
    await redis.delete("dispatch:driver:expired")  # what the retention's PEXPIRE does
    found = await index.nearby(here, 500, 10, now_ms(), SearchMode.GEOSEARCH)
    assert [n.driver_id for n in found] == ["kept"]
    assert await redis.zscore(GEO_KEY, "expired") is None


async def test_a_dense_area_with_many_stale_drivers_still_finds_the_fresh_ones(
    index: LocationIndex, redis: "aioredis.Redis"
) -> None:
    """The geo set keeps silent drivers until they expire: GEOSEARCH reads past them (its COUNT
    grows) rather than answering short."""
    rng = random.Random(7)
    centre = Point(40.7128, -74.006)
    stale = drivers_around(rng, centre, 300, 0.002)
    old = now_ms() - int(STALE_AFTER_S * 1000) - 5000
    await index.update(
        [LocationUpdate(f"stale-{i}", p, "available", old) for i, p in enumerate(stale)]
    )
    fresh = {f"fresh-{i}": p for i, p in enumerate(drivers_around(rng, centre, 20, 0.02))}
    await place(index, fresh)
    await assert_every_mode_is_brute_force(index, fresh, centre, 5000, 10)


async def test_each_search_is_timed_under_the_mode_that_served_it(
    index: LocationIndex, registry: CollectorRegistry
) -> None:
    origin = Point(1.0, 1.0)
    await place(index, {"timed": origin})
    for mode in SearchMode:
        await index.nearby(origin, 100, 1, now_ms(), mode)
        await index.nearby(origin, 100, 1, now_ms(), mode)
    for mode in SearchMode:
        count = registry.get_sample_value("dispatch_nearby_seconds_count", {"search": mode.value})
        assert count == 2, mode
