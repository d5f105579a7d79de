"""Benchmark the catalog's title reads through the zoned cache (not a test).

100,000 titles in Cassandra (the CQL development server), read by title id under a Zipf(1)
workload through the two-zone look-aside cache: hit ratio after a warm-up, and p50/p99 beside
a raw Redis GET of the same keys in the same run.

    uv run python -m loadtests.catalog_bench [--titles 100000] [--reads 100000]
"""

import argparse
import asyncio
import bisect
import itertools
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import redis.asyncio as aioredis

from catalog.evcache import Zone, ZonedCache
from catalog.store import CatalogStore
from devstack.servers import CqlServer, RedisServer
from loadtests.report import write_report


def zipf_sampler(n: int, rng: random.Random) -> Callable[[], int]:
    cumulative = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(n)))
    total = cumulative[-1]
    return lambda: bisect.bisect_left(cumulative, rng.random() * total)


async def bench(titles: int, reads: int, root: Path) -> list[dict[str, float | str]]:
    cql, zone_a, zone_b = CqlServer(root / "cql"), RedisServer(root / "a"), RedisServer(root / "b")
    for server in (cql, zone_a, zone_b):
        server.start()
    try:
        store = await CatalogStore.connect(cql.contact_point, "bench", timeout_s=30)
        await store.put_titles(
            [(f"t{i}", f"Title {i}", ["drama"], 2000 + i % 25, 3600) for i in range(titles)]
        )
        a, b = aioredis.Redis.from_url(zone_a.url), aioredis.Redis.from_url(zone_b.url)
        cache = ZonedCache([Zone("a", a), Zone("b", b)], ttl_s=3600)
        draw = zipf_sampler(titles, random.Random(7))

        async def read(title: str) -> bytes | None:
            async def load() -> bytes | None:
                found = await store.title(title)
                return orjson.dumps(found) if found else None

            return await cache.get_or_load(f"title:{title}", load)

        for _ in range(reads):  # warm-up: the same workload, not measured
            await read(f"t{draw()}")
        cache.hits = cache.misses = 0
        sample = [f"t{draw()}" for _ in range(reads)]
        through_cache = []
        for title in sample:
            started = time.perf_counter()
            await read(title)
            through_cache.append((time.perf_counter() - started) * 1000)
        hit_ratio = cache.hit_ratio
        raw_get = []
        for title in sample:
            started = time.perf_counter()
            await a.get(f"title:{title}")
            raw_get.append((time.perf_counter() - started) * 1000)
        await a.aclose()
        await b.aclose()
        store.close()
    finally:
        for server in (cql, zone_a, zone_b):
            server.stop()

    def p99(values: list[float]) -> float:
        return sorted(values)[int(len(values) * 0.99) - 1]

    return [
        {"metric": "cache hit ratio % (after warm-up)", "value": hit_ratio * 100, "baseline": 99.0},
        {
            "metric": "title read p50 ms",
            "value": statistics.median(through_cache),
            "baseline": statistics.median(raw_get),
        },
        {"metric": "title read p99 ms", "value": p99(through_cache), "baseline": p99(raw_get)},
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--titles", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        rows = asyncio.run(bench(args.titles, args.reads, Path(root)))
    title = (
        f"catalog, {args.titles:,} titles, {args.reads:,} Zipf(1) reads after as many warm-up reads"
    )
    print(write_report("catalog", title, "target / raw Redis GET", rows))


if __name__ == "__main__":
    main()
