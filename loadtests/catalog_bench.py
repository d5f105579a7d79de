"""Benchmark the catalog (not a test), natively, each figure beside a baseline from the same run.

- Title reads through the two-zone look-aside cache under Zipf(1) over 100,000 titles (the CQL
  development server behind it): hit ratio from a cold cache after as many warm-up reads as
  measured reads, and after a cache-warmer pass (every title loaded once, as EVCache's warmers
  fill a new replica); p50/p99 beside a raw Redis GET of the same keys.
- Playback events through Kafka into the viewing history: ``POST /v1/plays/batch`` (100 a
  batch) to the catalog process, consumed from ``catalog.plays`` into Cassandra; history rows/s
  beside the same rows written straight to the store.
- Steering: ``GET /v1/titles/{id}/play`` p50/p99 over HTTP beside ``GET /healthz`` on the same
  connection (the cost of the web stack alone).

    uv run python -m loadtests.catalog_bench [--titles 100000] [--reads 100000] [--plays 5000]
"""

import argparse
import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial

import httpx
import orjson
import redis.asyncio as aioredis

from catalog.evcache import Zone, ZonedCache
from catalog.store import CatalogStore
from devstack.servers import LocalServers
from devstack.stack import NativeStack
from loadtests.measure import bounded, latency_rows, timed, zipf_sampler
from loadtests.report import record_samples, write_report

PROFILES = 100
BATCH = 100


async def wait_for_count(count: Callable[[], Awaitable[int]], wanted: int, timeout_s: float) -> int:
    """Poll ``count`` until it reaches ``wanted`` or the time is up; the last count."""
    deadline = time.monotonic() + timeout_s
    seen = await count()
    while seen < wanted and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        seen = await count()
    return seen


async def cache_bench(servers: LocalServers, titles: int, reads: int) -> list[dict[str, object]]:
    store = await CatalogStore.connect(servers.cql.contact_point, "bench", timeout_s=30)
    await store.put_titles(
        [(f"t{i}", f"Title {i}", ["drama"], 2000 + i % 25, 3600) for i in range(titles)]
    )
    a, b = aioredis.Redis.from_url(servers.redis.url), aioredis.Redis.from_url(servers.redis_b.url)
    cache = ZonedCache([Zone("a", a), Zone("b", b)], ttl_s=3600)
    draw = zipf_sampler(titles, random.Random(7))

    def read(title: str) -> Callable[[], Awaitable[bytes | None]]:
        async def load() -> bytes | None:
            found = await store.title(title)
            return orjson.dumps(found) if found else None

        return lambda: cache.get_or_load(f"title:{title}", load)

    await timed([read(f"t{draw()}") for _ in range(reads)])  # warm-up, the same workload
    cache.hits = cache.misses = 0
    sample = [f"t{draw()}" for _ in range(reads)]
    through_cache = await timed([read(title) for title in sample])
    cold_hit_ratio = cache.hit_ratio
    await bounded(64, [read(f"t{i}") for i in range(titles)])  # the warmer's pass
    cache.hits = cache.misses = 0
    warmed = await timed([read(title) for title in sample])
    warm_hit_ratio = cache.hit_ratio
    raw_get = await timed([partial(a.get, f"title:{title}") for title in sample])
    record_samples("catalog", "title read, warmed cache", warmed)
    record_samples("catalog", "raw Redis GET (baseline)", raw_get)
    await a.aclose()
    await b.aclose()
    store.close()
    return [
        {"metric": "cache hit ratio %, cold cache after warm-up reads",
         "value": cold_hit_ratio * 100, "baseline": 99.0},
        {"metric": "cache hit ratio %, after a warmer pass", "value": warm_hit_ratio * 100,
         "baseline": 99.0},
        *latency_rows("title read", " (cold cache)", through_cache, raw_get),
        *latency_rows("title read", " (warmed)", warmed, raw_get),
    ]  # fmt: skip


async def plays_bench(servers: LocalServers, base_url: str, plays: int) -> list[dict[str, object]]:
    run = f"{time.time_ns():x}"
    start = datetime(2026, 1, 1, tzinfo=UTC)
    per_profile = plays // PROFILES
    events = [
        {"profile_id": f"bench-{run}-{p}", "title_id": f"t{n % 5000}", "kind": "progress",
         "position_s": n, "region": "eu", "at": (start + timedelta(seconds=n)).isoformat()}
        for p in range(PROFILES) for n in range(per_profile)
    ]  # fmt: skip
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:

        async def post(batch: list[dict[str, object]]) -> None:
            (await http.post("/v1/plays/batch", json={"plays": batch})).raise_for_status()

        async def stored() -> int:
            counts = await asyncio.gather(
                *(http.get(f"/v1/profiles/bench-{run}-{p}/history", params={"limit": 200})
                  for p in range(PROFILES))
            )  # fmt: skip
            return sum(len(response.json()) for response in counts)

        started = time.perf_counter()
        batches = [events[i : i + BATCH] for i in range(0, len(events), BATCH)]
        await bounded(4, [partial(post, batch) for batch in batches])
        count = await wait_for_count(stored, len(events), timeout_s=300)
        through_kafka = count / (time.perf_counter() - started)

    store = await CatalogStore.connect(servers.cql.contact_point, "bench", timeout_s=30)
    direct = [
        partial(store.append_history, f"direct-{e['profile_id']}",
                datetime.fromisoformat(str(e["at"])), str(e["title_id"]), int(str(e["position_s"])))
        for e in events
    ]  # fmt: skip
    direct_rate = len(events) / await bounded(16, direct)
    store.close()
    return [
        {"metric": "history rows/s, POST /v1/plays/batch -> Kafka -> Cassandra",
         "value": through_kafka, "baseline": direct_rate},
    ]  # fmt: skip


async def play_bench(base_url: str, requests: int) -> list[dict[str, object]]:
    rng = random.Random(3)
    draw = zipf_sampler(5000, rng)
    isps = [("telco-eu-1", "eu"), ("cable-us-2", "us"), ("mobile-apac-1", "apac")]
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:

        def play() -> Callable[[], Awaitable[object]]:
            isp, region = rng.choice(isps)
            params: dict[str, str | int] = {
                      "isp": isp, "region": region, "codecs": "h264,hevc", "max_height": 1080,
                      "bandwidth_kbps": rng.choice([1500, 6000, 25000])}  # fmt: skip
            return lambda: http.get(f"/v1/titles/t{draw()}/play", params=params)

        await timed([play() for _ in range(200)])  # warm the title cache and connections
        played = await timed([play() for _ in range(requests)])
        health = await timed([lambda: http.get("/healthz") for _ in range(requests)])
    record_samples("catalog", "play (steering + manifest, HTTP)", played)
    record_samples("catalog", "GET /healthz (baseline)", health)
    return latency_rows("play", " (steering + manifest, HTTP)", played, health)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--titles", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=100_000)
    parser.add_argument("--plays", type=int, default=5_000)
    parser.add_argument("--play-requests", type=int, default=2_000)
    args = parser.parse_args()
    with LocalServers.create() as servers:
        stack = NativeStack.create(servers)
        stack.start(["catalog"])
        try:
            rows = asyncio.run(cache_bench(servers, args.titles, args.reads))
            rows += asyncio.run(plays_bench(servers, stack.url("catalog"), args.plays))
            rows += asyncio.run(play_bench(stack.url("catalog"), args.play_requests))
        finally:
            stack.stop()
    title = (
        f"catalog: {args.titles:,} titles, {args.reads:,} Zipf(1) reads; {args.plays:,} plays "
        f"through Kafka; {args.play_requests:,} play requests"
    )
    baselines = "hit-ratio target / raw Redis GET / direct store writes / GET /healthz"
    print(write_report("catalog", title, baselines, rows))


if __name__ == "__main__":
    main()
