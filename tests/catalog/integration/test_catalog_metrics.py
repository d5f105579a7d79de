"""The catalog's decision metrics on the native stack, read from its /metrics after the reads
and plays that move them: the look-aside cache's fallbacks (the local zone could not serve a
read: the other zone or Cassandra did) and repairs (the local zone re-filled from the other),
and the steering tier of every play."""

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from devstack.stack import NativeStack

pytestmark = pytest.mark.e2e
TITLE = {"name": "Counted", "genres": ["drama"], "year": 2021, "duration_s": 3000}
PLAYBACK: dict[str, str | int] = {"codecs": "h264,hevc", "max_height": 1080, "bandwidth_kbps": 6000}


@pytest.fixture
async def catalog(native_stack: NativeStack) -> AsyncIterator[httpx.AsyncClient]:
    # Straight to the catalog: the edge would answer repeated reads from its own cache.
    async with httpx.AsyncClient(base_url=native_stack.url("catalog"), timeout=30) as client:
        yield client


@pytest.fixture
async def zone_a(native_stack: NativeStack) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(native_stack.servers.redis.url)
    try:
        yield client
    finally:
        await client.aclose()


async def metric(catalog: httpx.AsyncClient, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples on the catalog's /metrics whose labels include ``labels``."""
    text = (await catalog.get("/metrics")).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


async def new_title(catalog: httpx.AsyncClient) -> str:
    """A title in Cassandra and in no zone (a PUT invalidates every zone)."""
    title_id = f"t-{uuid.uuid4().hex[:10]}"
    response = await catalog.put(f"/v1/titles/{title_id}", json=TITLE)
    assert response.status_code == 200, response.text
    return title_id


async def read(catalog: httpx.AsyncClient, title_id: str) -> None:
    response = await catalog.get(f"/v1/titles/{title_id}")
    assert response.status_code == 200, response.text


async def test_a_read_no_zone_holds_falls_back_to_cassandra_and_fills_both(
    catalog: httpx.AsyncClient,
) -> None:
    title_id = await new_title(catalog)
    to_cassandra = await metric(
        catalog, "catalog_cache_fallbacks_total", from_zone="a", to="cassandra"
    )
    to_b = await metric(catalog, "catalog_cache_fallbacks_total", from_zone="a", to="b")
    await read(catalog, title_id)
    assert (
        await metric(catalog, "catalog_cache_fallbacks_total", from_zone="a", to="cassandra")
        == to_cassandra + 1
    )
    await read(catalog, title_id)  # now a local hit: no fallback at all
    assert (
        await metric(catalog, "catalog_cache_fallbacks_total", from_zone="a", to="cassandra")
        == to_cassandra + 1
    )
    assert await metric(catalog, "catalog_cache_fallbacks_total", from_zone="a", to="b") == to_b


async def test_a_local_miss_the_other_zone_holds_is_a_fallback_to_b_and_a_repair_of_a(
    catalog: httpx.AsyncClient, zone_a: aioredis.Redis
) -> None:
    title_id = await new_title(catalog)
    await read(catalog, title_id)  # fills both zones
    assert await zone_a.delete(f"title:{title_id}") == 1  # the local zone loses its copy
    to_b = await metric(catalog, "catalog_cache_fallbacks_total", from_zone="a", to="b")
    repairs = await metric(catalog, "catalog_cache_repairs_total", zone="a")
    await read(catalog, title_id)
    assert await metric(catalog, "catalog_cache_fallbacks_total", from_zone="a", to="b") == to_b + 1
    assert await metric(catalog, "catalog_cache_repairs_total", zone="a") == repairs + 1
    assert await zone_a.exists(f"title:{title_id}") == 1, "zone a holds it again"
    await read(catalog, title_id)  # repaired: a local hit
    assert await metric(catalog, "catalog_cache_repairs_total", zone="a") == repairs + 1


@pytest.mark.parametrize(
    ("isp", "title", "tier", "in_isp"),
    [
        ("telco-eu-1", "t0", "isp", "true"),  # the seed's most popular title sits in the ISP
        ("no-such-isp", "t0", "ixp", "false"),  # no appliance of its own: the region's IXP
        ("telco-eu-1", None, "origin", "false"),  # a new title no appliance holds yet
    ],
)
async def test_every_play_counts_the_tier_steering_chose(
    catalog: httpx.AsyncClient, isp: str, title: str | None, tier: str, in_isp: str
) -> None:
    if title is None:
        title = await new_title(catalog)
    else:
        await catalog.put(f"/v1/titles/{title}", json=TITLE)
    before = await metric(catalog, "catalog_plays_total", tier=tier, in_isp=in_isp)
    everything = await metric(catalog, "catalog_plays_total")
    response = await catalog.get(
        f"/v1/titles/{title}/play", params={"isp": isp, "region": "eu", **PLAYBACK}
    )
    assert response.status_code == 200, response.text
    first = response.json()["sources"][0]
    assert first.startswith(
        {"isp": "http://oca-", "ixp": "http://ixp-", "origin": "http://origin"}[tier]
    )
    assert await metric(catalog, "catalog_plays_total", tier=tier, in_isp=in_isp) == before + 1
    assert await metric(catalog, "catalog_plays_total") == everything + 1


async def test_a_refused_play_counts_nothing(catalog: httpx.AsyncClient) -> None:
    everything = await metric(catalog, "catalog_plays_total")
    response = await catalog.get(
        "/v1/titles/no-such-title/play", params={"isp": "telco-eu-1", "region": "eu", **PLAYBACK}
    )
    assert response.status_code == 404
    assert await metric(catalog, "catalog_plays_total") == everything
