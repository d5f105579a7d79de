"""Netflix: EVCache in front of Cassandra. Zipf(1)-popular title reads through the catalog's
look-aside cache, steady, then with cache zone A down (reads fall back to zone B), then with
``catalog.cache=off`` (every read from Cassandra): hit ratio and read latency in each phase."""

import asyncio
import random
import time
import uuid

import httpx

from loadtests.experiments.lab import Lab, total
from loadtests.experiments.model import Check, Experiment, Findings, Scale, Series, quantile, ratio

SIZE = {Scale.SMALL: (100, 400), Scale.FULL: (2_000, 20_000)}
"""(titles, reads per phase)."""
CONCURRENCY = 8


async def reads(
    http: httpx.AsyncClient, ids: list[str], count: int, rng: random.Random, clock0: float
) -> tuple[list[float], list[tuple[float, float]]]:
    """``count`` Zipf(1) reads: each one's seconds, and (time, seconds) points for the plot."""
    weights = [1 / rank for rank in range(1, len(ids) + 1)]
    queue = rng.choices(ids, weights=weights, k=count)
    seconds: list[float] = []
    points: list[tuple[float, float]] = []

    async def worker() -> None:
        while queue:
            title = queue.pop()
            start = time.monotonic()
            response = await http.get(f"/v1/titles/{title}")
            took = time.monotonic() - start
            if response.status_code != 200:
                raise RuntimeError(f"title {title}: {response.status_code} {response.text}")
            seconds.append(took)
            points.append((start - clock0, took * 1000))

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return seconds, points


async def lookups(lab: Lab) -> dict[str, float]:
    samples = await lab.scrape("catalog")
    return {r: total(samples, "cache_lookups_total", result=r) for r in ("hit", "miss", "bypass")}


async def run(lab: Lab, scale: Scale) -> Findings:
    titles, per_phase = SIZE[scale]
    rng = random.Random(5)
    tag = uuid.uuid4().hex[:6]
    ids = [f"exp{tag}{i}" for i in range(titles)]
    phases: tuple[tuple[str, dict[str, str]], ...] = (
        ("steady", {}),
        ("zone A down", {"catalog.cacheZoneADown": "on"}),
        ("cache off (Cassandra)", {"catalog.cacheZoneADown": "off", "catalog.cache": "off"}),
    )
    rows, series = [], []
    measured: dict[str, tuple[float, float]] = {}
    clock0 = time.monotonic()
    async with httpx.AsyncClient(base_url=lab.urls["catalog"], timeout=30) as http:
        for title in ids:
            body = {"name": f"Title {title}", "genres": ["drama"], "year": 2020, "duration_s": 5400}
            (await http.put(f"/v1/titles/{title}", json=body)).raise_for_status()
        for title in ids:  # every title once: both zones warm before the steady phase
            (await http.get(f"/v1/titles/{title}")).raise_for_status()
        for phase, flips in phases:
            for key, variant in flips.items():
                await lab.flip(key, variant, readers=["catalog"])
            before = await lookups(lab)
            seconds, points = await reads(http, ids, per_phase, rng, clock0)
            after = await lookups(lab)
            hits = after["hit"] - before["hit"]
            looked = hits + after["miss"] - before["miss"] + after["bypass"] - before["bypass"]
            measured[phase] = (ratio(hits, looked), quantile(seconds, 0.99))
            rows.append({
                "phase": phase, "reads": len(seconds), "hit ratio": ratio(hits, looked),
                "p50 ms": quantile(seconds, 0.5) * 1000, "p99 ms": quantile(seconds, 0.99) * 1000,
            })  # fmt: skip
            series.append(Series(phase, sorted(points), "read ms"))
    steady_hits, steady_p99 = measured["steady"]
    down_hits, down_p99 = measured["zone A down"]
    return Findings(
        table=rows,
        checks=[
            Check("hit ratio with zone A down / steady", ratio(down_hits, steady_hits), ">=", 0.99),
            Check("p99 with zone A down / steady", ratio(down_p99, steady_p99), "<", 3.0, "x"),
        ],
        setup={
            "titles": titles,
            "reads per phase": f"{per_phase}, Zipf(1), {CONCURRENCY} at a time, straight to "
            "the catalog (not through the edge, whose cache would hide the catalog's)",
            "zones": "zone A: the local Redis; zone B: the second Redis (replicated writes)",
        },
        series=series,
        notes=[
            "Cassandra here is the CQL development server, in memory: the cache-off "
            "phase shows the look-aside path's cost, not a disk-bound Cassandra's"
        ],
    )


EXPERIMENT = Experiment(
    name="netflix-cache-zone-loss",
    company="Netflix",
    claim="EVCache (Memcached fork): custom in-memory cache layer. Needed lower latency than "
    "Cassandra for hot paths (30 billion reads/day).",
    hypothesis="With zone A down the hit ratio stays >= 99% of its steady value (zone B serves) "
    "and p99 < 3x steady; with the cache off, every read pays Cassandra's latency.",
    action="catalog.cacheZoneADown on mid-run; then catalog.cache=off",
    run=run,
)
