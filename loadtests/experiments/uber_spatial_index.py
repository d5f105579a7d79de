"""Uber: H3 cells in Redis. Nearby-driver queries over a city of N drivers with
``dispatch.search`` = h3_rings, Redis GEOSEARCH and a full scan: the worker's own search time
(its ``dispatch_nearby_seconds`` histogram), and every answer against a brute-force one."""

import asyncio
import random
import time
import uuid

import httpx

from dispatch.domain.geo import Point, haversine_m
from loadtests.dispatch_bench import city_drivers
from loadtests.experiments.lab import Lab, histogram
from loadtests.experiments.model import (
    Check,
    Experiment,
    Findings,
    Scale,
    bucket_delta,
    histogram_quantile,
    quantile,
)

SIZES = {Scale.SMALL: (2_000,), Scale.FULL: (10_000, 100_000)}
QUERIES = {Scale.SMALL: 20, Scale.FULL: 300}
MODES = ("h3_rings", "geosearch", "full_scan")
WORKERS = ("dispatch", "dispatch-2")
RADIUS_M, LIMIT = 3000.0, 10
BATCH = 1000
SEED_BOUND_S = 0.005


def moved(point: Point, cities: int) -> Point:
    return Point(point.lat + cities, point.lng)


def brute_force(drivers: dict[str, Point], origin: Point) -> set[str]:
    """The ``LIMIT`` nearest within ``RADIUS_M``, by checking every driver."""
    near = sorted(
        (d, driver)
        for driver, point in drivers.items()
        if (d := haversine_m(origin, point)) <= RADIUS_M
    )
    return {driver for _, driver in near[:LIMIT]}


async def report(http: httpx.AsyncClient, drivers: dict[str, Point]) -> None:
    items = list(drivers.items())
    batches = [items[i : i + BATCH] for i in range(0, len(items), BATCH)]
    semaphore = asyncio.Semaphore(4)

    async def send(batch: list[tuple[str, Point]]) -> None:
        updates = [{"driver_id": d, "lat": p.lat, "lng": p.lng} for d, p in batch]
        async with semaphore:
            response = await http.post("/v1/locations", json={"updates": updates})
        response.raise_for_status()

    await asyncio.gather(*(send(b) for b in batches))


async def search_seconds(lab: Lab, mode: str) -> list[tuple[float, float]]:
    buckets: dict[float, float] = {}
    for worker in WORKERS:
        for le, count in histogram(
            await lab.scrape(worker), "dispatch_nearby_seconds", search=mode
        ):
            buckets[le] = buckets.get(le, 0.0) + count
    return sorted(buckets.items())


async def run(lab: Lab, scale: Scale) -> Findings:
    rng = random.Random(9)
    rows: list[dict[str, object]] = []
    checks: list[Check] = []
    p99: dict[tuple[int, str], float] = {}
    async with httpx.AsyncClient(base_url=lab.urls["dispatch"], timeout=60) as http:
        for n, size in enumerate(SIZES[scale]):
            run_id = uuid.uuid4().hex[:6]
            # Each size its own city (a degree apart): the last size's drivers, still fresh,
            # are no one's answer here.
            drivers = {f"x{run_id}-{i}": moved(p, n) for i, p in enumerate(city_drivers(size, rng))}
            origins = [moved(p, n) for p in city_drivers(QUERIES[scale], rng)]
            expected = [brute_force(drivers, o) for o in origins]
            for mode in MODES:
                await lab.flip("dispatch.search", mode, readers=list(WORKERS))
                start = time.monotonic()
                await report(http, drivers)  # fresh positions for this mode's queries
                reported_s = time.monotonic() - start
                before = await search_seconds(lab, mode)
                client_s, matching = [], 0
                for origin, wanted in zip(origins, expected, strict=True):
                    params = {"lat": origin.lat, "lng": origin.lng, "radius_m": RADIUS_M,
                              "limit": LIMIT}  # fmt: skip
                    sent = time.monotonic()
                    response = await http.get("/v1/drivers/nearby", params=params)
                    client_s.append(time.monotonic() - sent)
                    response.raise_for_status()
                    found = {d["driver_id"] for d in response.json()["drivers"]}
                    matching += found == wanted
                served = bucket_delta(await search_seconds(lab, mode), before)
                p99[(size, mode)] = histogram_quantile(0.99, served)
                rows.append({
                    "drivers": size, "dispatch.search": mode,
                    "search p50 ms": histogram_quantile(0.5, served) * 1000,
                    "search p99 ms": p99[(size, mode)] * 1000,
                    "HTTP p99 ms": quantile(client_s, 0.99) * 1000,
                    "brute-force answers": f"{matching}/{len(origins)}",
                    "report s": reported_s,
                })  # fmt: skip
                checks.append(
                    Check(f"{mode} answers equal to brute force, {size:,} drivers",
                          matching / len(origins), ">=", 1.0)
                )  # fmt: skip
            checks.append(
                Check(f"h3 search p99, {size:,} drivers", p99[(size, "h3_rings")] * 1000, "<=",
                      SEED_BOUND_S * 1000, " ms")
            )  # fmt: skip
            checks.append(
                Check(f"h3 p99 / GEOSEARCH p99, {size:,} drivers",
                      p99[(size, "h3_rings")] / p99[(size, "geosearch")], "<=", 1.0, "x")
            )  # fmt: skip
    if len(SIZES[scale]) > 1:
        small, large = SIZES[scale][0], SIZES[scale][-1]
        growth = p99[(large, "full_scan")] / p99[(small, "full_scan")]
        checks.append(
            Check(f"full scan p99 growth for {large // small}x the drivers", growth, ">=",
                  0.5 * large / small, "x")
        )  # fmt: skip
    return Findings(
        table=rows,
        checks=checks,
        setup={
            "city": "a dense downtown and thinner suburbs (loadtests.dispatch_bench.city_drivers)",
            "query": f"nearest {LIMIT} within {RADIUS_M:g} m, {QUERIES[scale]} random origins",
            "timing": "the workers' dispatch_nearby_seconds histogram (bucket-interpolated, as "
            "PromQL's histogram_quantile); HTTP p99 includes the request itself",
        },
        bars={f"{mode} {size:,}": v * 1000 for (size, mode), v in p99.items()},
        bars_unit="search p99 (ms)",
    )


EXPERIMENT = Experiment(
    name="uber-spatial-index",
    company="Uber",
    claim="These are indexed in H3 hexagonal cells in Redis. When a rider requests a ride, the "
    "dispatch service queries the H3 cell and adjacent cells, getting all nearby drivers in "
    "under 5ms.",
    hypothesis="H3 rings: p99 <= 5 ms and <= GEOSEARCH's; a full scan grows with the drivers; "
    "every mode returns the brute-force answer.",
    action="dispatch.search h3_rings, geosearch, full_scan at each city size",
    run=run,
)
