"""Benchmark dispatch's location index natively (not a test): 100,000 drivers in a city.

Location ingest rate through the service (HTTP batches of 500) and nearby-query latency, both
inside the service (the index code path alone) and through HTTP, each beside Redis's own
GEOADD / GEOSEARCH on the same points in the same run.

    uv run python -m loadtests.dispatch_bench [--drivers 100000] [--queries 2000]
"""

import argparse
import asyncio
import random
import time
from collections.abc import Awaitable, Callable

import httpx
import redis.asyncio as aioredis

from devstack.servers import LocalServers
from devstack.stack import NativeStack
from dispatch.domain.geo import Point
from dispatch.locations import LocationIndex
from loadtests.measure import latency_rows, timed
from loadtests.report import record_samples, write_report

CITY = Point(52.52, 13.405)
BATCH = 500


def city_drivers(count: int, rng: random.Random) -> list[Point]:
    """Denser downtown, thinner suburbs: a mixture of a tight and a wide cluster."""
    points = []
    for _ in range(count):
        spread = 0.03 if rng.random() < 0.6 else 0.15
        points.append(Point(CITY.lat + rng.gauss(0, spread), CITY.lng + rng.gauss(0, spread * 1.6)))
    return points


async def bench(
    stack: NativeStack, redis_url: str, drivers: list[Point], queries: int
) -> list[dict[str, object]]:
    rng = random.Random(2)
    base = stack.url("dispatch")
    now = int(time.time() * 1000)
    batches = [
        [{"driver_id": f"d{i}", "lat": pt.lat, "lng": pt.lng, "ts_ms": now} for i, pt in
         enumerate(drivers[start : start + BATCH], start)]
        for start in range(0, len(drivers), BATCH)
    ]  # fmt: skip
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        semaphore = asyncio.Semaphore(4)

        async def send(batch: list[dict[str, object]]) -> None:
            async with semaphore:
                response = await http.post("/v1/locations", json={"updates": batch})
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(send(b) for b in batches))
        ingest_rate = len(drivers) / (time.perf_counter() - started)

        redis = aioredis.Redis.from_url(redis_url)
        started = time.perf_counter()
        for start in range(0, len(drivers), BATCH):
            async with redis.pipeline(transaction=False) as pipe:
                for i, pt in enumerate(drivers[start : start + BATCH], start):
                    pipe.geoadd("bench:geo", (pt.lng, pt.lat, f"d{i}"))
                await pipe.execute()
        geoadd_rate = len(drivers) / (time.perf_counter() - started)

        origins = [city_drivers(1, rng)[0] for _ in range(queries)]
        index = LocationIndex(redis, stale_after_s=3600)

        def in_service(o: Point) -> Callable[[], Awaitable[object]]:
            return lambda: index.nearby(o, 3000, 10, int(time.time() * 1000))

        def over_http(o: Point) -> Callable[[], Awaitable[object]]:
            params = {"lat": o.lat, "lng": o.lng, "radius_m": 3000, "limit": 10}
            return lambda: http.get("/v1/drivers/nearby", params=params)

        def geosearch(o: Point) -> Callable[[], Awaitable[object]]:
            return lambda: redis.geosearch(
                "bench:geo",
                longitude=o.lng,
                latitude=o.lat,
                radius=3000,
                unit="m",
                sort="ASC",
                count=10,
                withdist=True,
            )

        inside = await timed([in_service(o) for o in origins])
        http_ms = await timed([over_http(o) for o in origins])
        geo_ms = await timed([geosearch(o) for o in origins])
        record_samples("dispatch", "nearby, in the service", inside)
        record_samples("dispatch", "nearby, over HTTP", http_ms)
        record_samples("dispatch", "Redis GEOSEARCH (baseline)", geo_ms)

        def decide(o: Point) -> Callable[[], Awaitable[object]]:
            trip = {"rider_id": "bench", "pickup": {"lat": o.lat, "lng": o.lng},
                    "dropoff": {"lat": o.lat + 0.02, "lng": o.lng + 0.02}}  # fmt: skip
            return lambda: http.post("/v1/trips", json=trip)

        decision_ms = await timed([decide(o) for o in origins[: max(1, len(origins) // 4)]])
        await redis.aclose()
    return [
        {"metric": "ingest updates/s (HTTP, 500 a batch)", "value": ingest_rate,
         "baseline": geoadd_rate},
        *latency_rows("nearby", ", in the service", inside, geo_ms),
        *latency_rows("nearby", ", over HTTP", http_ms, geo_ms),
        *latency_rows("dispatch decision", " (request to offer)", decision_ms, geo_ms),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--drivers", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=2000)
    args = parser.parse_args()
    drivers = city_drivers(args.drivers, random.Random(1))
    with LocalServers.create() as servers:
        stack = NativeStack.create(servers)
        # The bench reports every driver once, then queries for longer than the 12 s default.
        stack.overrides["dispatch"] = stack.overrides["dispatch-2"] = {
            "DISPATCH_STALE_AFTER_S": "3600"
        }
        stack.start(["dispatch", "dispatch-2"])
        try:
            rows = asyncio.run(bench(stack, servers.redis.url, drivers, args.queries))
        finally:
            stack.stop()
    title = (
        f"dispatch, {args.drivers:,} drivers in Berlin, {args.queries} nearby queries (3 km, 10)"
    )
    print(write_report("dispatch", title, "Redis GEOADD / GEOSEARCH", rows))


if __name__ == "__main__":
    main()
