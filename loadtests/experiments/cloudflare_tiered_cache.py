"""Cloudflare: tiered caching. The same Zipf-popular reads spread over three PoPs, with
``edge.tieredCache`` on (lower tiers ask the upper tier, pop-1) and off (each PoP asks the
origin): how many requests reach the origin."""

import asyncio
import random
import uuid

import httpx

from devstack.scripted_origin import Script, scripted_origin
from devstack.topology import EDGE_POPS
from loadtests.experiments.lab import Lab
from loadtests.experiments.model import Check, Experiment, Findings, Scale, ratio

SIZE = {Scale.SMALL: (30, 400), Scale.FULL: (500, 6000)}
"""(distinct objects, requests) per condition."""
CONCURRENCY = 16
CACHEABLE = [("Cache-Control", "max-age=600")]


def zipf_reads(objects: int, requests: int, rng: random.Random) -> list[int]:
    """Object ranks drawn with probability 1/rank (Zipf, s = 1)."""
    weights = [1 / rank for rank in range(1, objects + 1)]
    return rng.choices(range(objects), weights=weights, k=requests)


async def spread(pop_urls: list[str], paths: list[str], reads: list[int], seed: int) -> int:
    """Each read at a random PoP; the number that failed."""
    rng = random.Random(seed)
    queue: asyncio.Queue[str] = asyncio.Queue()
    for index in reads:
        queue.put_nowait(f"{rng.choice(pop_urls)}{paths[index]}")
    failed = 0

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal failed
        while not queue.empty():
            url = queue.get_nowait()
            if (await http.get(url)).status_code != 200:
                failed += 1

    async with httpx.AsyncClient(timeout=30) as http:
        await asyncio.gather(*(worker(http) for _ in range(CONCURRENCY)))
    return failed


async def bypasses(lab: Lab) -> dict[str, float]:
    """Lower-tier misses that went to the origin instead of the upper tier, by reason."""
    found: dict[str, float] = {}
    for name in EDGE_POPS:
        for (sample, labels), value in (await lab.scrape(name)).items():
            if sample == "edge_tier_bypasses_total":
                reason = dict(labels)["reason"]
                found[reason] = found.get(reason, 0.0) + value
    return found


async def run(lab: Lab, scale: Scale) -> Findings:
    objects, requests = SIZE[scale]
    rng = random.Random(42)
    reads = zipf_reads(objects, requests, rng)
    rows, to_origin = [], {}
    pops = list(lab.pop_urls.values())
    with scripted_origin() as origin:
        prefix = await lab.edge_route(f"tier-{uuid.uuid4().hex[:8]}", [origin.url])
        for tiered in ("on", "off"):
            await lab.flip("edge.tieredCache", tiered, readers=list(EDGE_POPS))
            run_id = uuid.uuid4().hex[:8]
            origin_paths = [f"/{run_id}-{i}" for i in range(objects)]
            for path in origin_paths:
                origin.scripts[path] = Script(
                    b"x" * 512, headers=[("Cache-Control", "max-age=600")]
                )
            before, bypassed = sum(origin.hits.values()), await bypasses(lab)
            failed = await spread(pops, [f"{prefix}{p}" for p in origin_paths], reads, seed=7)
            to_origin[tiered] = sum(origin.hits.values()) - before
            bypassed = {k: v - bypassed.get(k, 0) for k, v in (await bypasses(lab)).items()}
            rows.append(
                {
                    "edge.tieredCache": tiered,
                    "requests": requests,
                    "distinct objects": objects,
                    "origin requests": to_origin[tiered],
                    "origin share": to_origin[tiered] / requests,
                    "failed": failed,
                    "upper tier bypassed": ", ".join(
                        f"{reason} {n:g}" for reason, n in sorted(bypassed.items()) if n
                    )
                    or "never",
                }
            )
    cut = ratio(to_origin["off"], to_origin["on"])
    return Findings(
        table=rows,
        checks=[Check("origin requests off / on", cut, ">=", 2.0, "x")],
        setup={
            "PoPs": "pop-1 (upper tier), pop-2 and pop-3 (lower tiers), each read at random",
            "reads": f"{requests} Zipf(1) reads of {objects} cacheable objects per condition",
        },
        bars={f"tiered {k}": float(v) for k, v in to_origin.items()},
        bars_unit="origin requests",
    )


EXPERIMENT = Experiment(
    name="cloudflare-tiered-cache",
    company="Cloudflare",
    claim='Tiered caching: if local cache misses, check a regional "upper-tier" cache before '
    "origin. Reduces origin load while keeping edge cache small.",
    hypothesis="With tiering, the origin sees at least 2x fewer requests than without.",
    action="edge.tieredCache on, then off; fresh objects each time",
    run=run,
)
