"""The look-aside cache's fallback and repair counters under each way a zone goes missing, on
two real Redis servers: the local zone missing a key, taken down by the policy, unreachable;
one zone only; the cache off."""

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from catalog.domain.cache_zones import CacheMode, CachePolicy
from catalog.evcache import Zone, ZonedCache
from devstack.processes import free_port
from devstack.servers import RedisServer

pytestmark = pytest.mark.integration
VALUE = b"from cassandra"


@pytest.fixture
async def zones(
    redis_server: RedisServer, redis_b_server: RedisServer
) -> AsyncIterator[tuple[aioredis.Redis, aioredis.Redis]]:
    a, b = (aioredis.Redis.from_url(s.url) for s in (redis_server, redis_b_server))
    yield a, b
    await a.aclose()
    await b.aclose()


async def load() -> bytes:
    return VALUE


def counts(cache: ZonedCache) -> dict[str, float]:
    """Every fallback (``from->to``) and repair (``repair:zone``) counted so far."""
    found = {}
    for family in cache.registry.collect():
        for sample in family.samples:
            if sample.name == "catalog_cache_fallbacks_total":
                found[f"{sample.labels['from_zone']}->{sample.labels['to']}"] = sample.value
            elif sample.name == "catalog_cache_repairs_total":
                found[f"repair:{sample.labels['zone']}"] = sample.value
    return {key: value for key, value in found.items() if value}


def key() -> str:
    return f"title:m-{uuid.uuid4().hex}"


async def test_every_series_exists_before_the_first_read(
    zones: tuple[aioredis.Redis, aioredis.Redis],
) -> None:
    cache = ZonedCache([Zone("a", zones[0]), Zone("b", zones[1])])
    names = {
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in cache.registry.collect()
        for sample in family.samples
        if sample.name in ("catalog_cache_fallbacks_total", "catalog_cache_repairs_total")
    }
    assert names == {
        ("catalog_cache_fallbacks_total", (("from_zone", "a"), ("to", "b"))),
        ("catalog_cache_fallbacks_total", (("from_zone", "a"), ("to", "cassandra"))),
        ("catalog_cache_repairs_total", (("zone", "a"),)),
    }


async def test_a_local_miss_falls_to_b_and_repairs_a_then_hits_locally(
    zones: tuple[aioredis.Redis, aioredis.Redis],
) -> None:
    cache = ZonedCache([Zone("a", zones[0]), Zone("b", zones[1])], ttl_s=60)
    k = key()
    await zones[1].set(k, VALUE)
    assert await cache.get_or_load(k, load) == VALUE
    assert counts(cache) == {"a->b": 1, "repair:a": 1}
    assert await zones[0].get(k) == VALUE
    assert await cache.get_or_load(k, load) == VALUE
    assert counts(cache) == {"a->b": 1, "repair:a": 1}, "a local hit counts neither"


async def test_no_zone_holding_it_is_a_fallback_to_cassandra(
    zones: tuple[aioredis.Redis, aioredis.Redis],
) -> None:
    cache = ZonedCache([Zone("a", zones[0]), Zone("b", zones[1])], ttl_s=60)
    assert await cache.get_or_load(key(), load) == VALUE
    assert counts(cache) == {"a->cassandra": 1}


async def test_zone_a_down_by_the_policy_falls_to_b_without_a_repair(
    zones: tuple[aioredis.Redis, aioredis.Redis],
) -> None:
    down = CachePolicy(down=frozenset({"a"}))
    cache = ZonedCache([Zone("a", zones[0]), Zone("b", zones[1])], ttl_s=60, policy=lambda: down)
    k = key()
    await zones[1].set(k, VALUE)
    assert await cache.get_or_load(k, load) == VALUE
    assert counts(cache) == {"a->b": 1}
    assert await zones[0].get(k) is None, "nothing written to a zone that is down"
    assert await cache.get_or_load(key(), load) == VALUE  # in neither zone
    assert counts(cache) == {"a->b": 1, "a->cassandra": 1}


async def test_an_unreachable_zone_a_falls_to_b_and_its_repair_is_not_counted(
    zones: tuple[aioredis.Redis, aioredis.Redis],
) -> None:
    dead = aioredis.Redis.from_url(
        f"redis://127.0.0.1:{free_port()}", socket_connect_timeout=0.2, socket_timeout=0.2
    )
    try:
        cache = ZonedCache([Zone("a", dead), Zone("b", zones[1])], ttl_s=60)
        k = key()
        await zones[1].set(k, VALUE)
        assert await cache.get_or_load(k, load) == VALUE
        assert counts(cache) == {"a->b": 1}
    finally:
        await dead.aclose()


@pytest.mark.parametrize(
    ("mode", "expected"),
    [(CacheMode.ONE_ZONE, {"a->cassandra": 1}), (CacheMode.OFF, {})],
)
async def test_one_zone_falls_only_to_cassandra_and_off_counts_no_fallback(
    zones: tuple[aioredis.Redis, aioredis.Redis], mode: CacheMode, expected: dict[str, float]
) -> None:
    policy = CachePolicy(mode=mode)
    cache = ZonedCache([Zone("a", zones[0]), Zone("b", zones[1])], ttl_s=60, policy=lambda: policy)
    k = key()
    await zones[1].set(k, VALUE)  # zone b holds it, but neither mode reads b
    assert await cache.get_or_load(k, load) == VALUE
    assert counts(cache) == expected
