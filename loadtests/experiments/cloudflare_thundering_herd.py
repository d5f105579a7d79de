"""Cloudflare: request coalescing. Many concurrent misses for one URL at one PoP, with
``edge.coalescing`` on and off: how many reach the origin, and what the clients waited."""

import asyncio
import time
import uuid

import aiohttp

from devstack.scripted_origin import Script, scripted_origin
from devstack.topology import EDGE_POPS
from loadtests.experiments.lab import Lab
from loadtests.experiments.model import Check, Experiment, Findings, Scale, quantile

CONCURRENT = {Scale.SMALL: 50, Scale.FULL: 1000}
ORIGIN_DELAY_S = 1.0
"""Long enough that every request arrives while the first one's fetch is still under way."""


async def misses(url: str, n: int) -> list[float]:
    """``n`` concurrent GETs of ``url``: each one's seconds (every answer must be a 200)."""
    connector = aiohttp.TCPConnector(limit=n)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> float:
            start = time.monotonic()
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=120)) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"{url} answered {response.status}")
            return time.monotonic() - start

        return list(await asyncio.gather(*(one() for _ in range(n))))


async def run(lab: Lab, scale: Scale) -> Findings:
    n = CONCURRENT[scale]
    rows = []
    fetched: dict[str, int] = {}
    with scripted_origin() as origin:
        prefix = await lab.edge_route(f"herd-{uuid.uuid4().hex[:8]}", [origin.url])
        for coalescing in ("on", "off"):
            await lab.flip("edge.coalescing", coalescing, readers=list(EDGE_POPS))
            path = f"/{uuid.uuid4().hex[:12]}"
            origin.scripts[path] = Script(
                b"x" * 1024, delay_s=ORIGIN_DELAY_S, headers=[("Cache-Control", "max-age=600")]
            )
            seconds = await misses(f"{lab.pop_urls['pop-1']}{prefix}{path}", n)
            fetched[coalescing] = origin.hits[path]
            rows.append(
                {
                    "edge.coalescing": coalescing,
                    "requests": n,
                    "origin fetches": origin.hits[path],
                    "p50 ms": quantile(seconds, 0.5) * 1000,
                    "p99 ms": quantile(seconds, 0.99) * 1000,
                }
            )
    return Findings(
        table=rows,
        checks=[
            Check("origin fetches with coalescing", fetched["on"], "<=", 1),
            Check("origin fetches without coalescing", fetched["off"], ">=", 0.9 * n),
        ],
        setup={
            "PoP": "pop-1 (the upper tier), reached directly",
            "origin": f"a scripted origin answering after {ORIGIN_DELAY_S:g} s, cacheable",
            "concurrent misses": n,
        },
        bars={f"coalescing {k}": float(v) for k, v in fetched.items()},
        bars_unit="origin fetches",
    )


EXPERIMENT = Experiment(
    name="cloudflare-thundering-herd",
    company="Cloudflare",
    claim='Tiered caching: if local cache misses, check a regional "upper-tier" cache before '
    "origin. Reduces origin load while keeping edge cache small. (Within one PoP, coalescing "
    "concurrent misses is the same decision: one fetch serves every waiter.)",
    hypothesis="With coalescing, N concurrent misses for one URL make 1 origin fetch; "
    "without it, about N (at least 90% of N).",
    action="edge.coalescing on, then off; a fresh URL each time",
    run=run,
)
