"""Cloudflare: every PoP identical, anycast in front. Clients of one region probe through the
anycast entry while their nearest PoP is killed (the supervisor starts it again after its
backoff): which PoP served each request, how many failed, and how long until the region's
own PoP served it again."""

import asyncio
import math
import time
import uuid

import httpx

from devstack.scripted_origin import Script, scripted_origin
from loadtests.experiments.lab import Lab, wait_until
from loadtests.experiments.model import Check, Experiment, Findings, Scale, Series

DURATION_S = {Scale.SMALL: 12.0, Scale.FULL: 40.0}
PROBES_PER_S = 40
VICTIM, VICTIM_POP, REGION = "edge-pop-2", "pop-2", "us-east"
RECOVERY_LIMIT_S = 60.0


def per_second(served: list[tuple[float, str]], pop: str) -> list[tuple[float, float]]:
    counts: dict[int, int] = {}
    for at, by in served:
        counts[int(at)] = counts.get(int(at), 0) + (by == pop)
    return [(float(second), float(n)) for second, n in sorted(counts.items())]


async def run(lab: Lab, scale: Scale) -> Findings:
    duration = DURATION_S[scale]
    served: list[tuple[float, str]] = []  # (seconds since start, PoP or "failed")
    with scripted_origin() as origin:
        prefix = await lab.edge_route(f"pops-{uuid.uuid4().hex[:8]}", [origin.url])
        origin.scripts["/object"] = Script(b"x" * 256, headers=[("Cache-Control", "max-age=600")])
        start = time.monotonic()
        killed_at = math.inf

        async def probe() -> None:
            # A new connection per probe: anycast routes connections, not requests.
            at = time.monotonic() - start
            try:
                async with httpx.AsyncClient(timeout=5) as http:
                    response = await http.get(
                        f"{lab.edge_url}{prefix}/object", headers={"x-client-region": REGION}
                    )
                pop = (
                    response.headers.get("x-edge-pop", "?")
                    if response.status_code == 200
                    else "failed"
                )
            except httpx.HTTPError:
                pop = "failed"
            served.append((at, pop))

        async def prober() -> None:
            tasks = []
            # The whole duration, and on until the victim serves again (60 s at most).
            while (elapsed := time.monotonic() - start) < duration or (
                elapsed < RECOVERY_LIMIT_S
                and not any(p == VICTIM_POP and t > killed_at for t, p in served)
            ):
                tasks.append(asyncio.create_task(probe()))
                await asyncio.sleep(1 / PROBES_PER_S)
            await asyncio.gather(*tasks)

        probing = asyncio.create_task(prober())
        await asyncio.sleep(duration / 4)
        killed_at = time.monotonic() - start
        await asyncio.to_thread(lab.act, VICTIM, "kill")
        await probing
        await wait_until(lambda: lab.ready(VICTIM), timeout_s=60, what=f"{VICTIM} back")
    before = [p for t, p in served if t < killed_at]
    after = sorted((t, p) for t, p in served if t >= killed_at)
    failed = sum(p == "failed" for _, p in after)
    elsewhere = sum(p not in (VICTIM_POP, "failed") for _, p in after)
    back = next((t for t, p in after if p == VICTIM_POP), None)
    recovery = (back - killed_at) if back is not None else float("nan")
    rows = [
        {"window": "before the kill", "requests": len(before),
         f"served by {VICTIM_POP}": sum(p == VICTIM_POP for p in before),
         "served by another PoP": sum(p not in (VICTIM_POP, "failed") for p in before),
         "failed": sum(p == "failed" for p in before)},
        {"window": "from the kill on", "requests": len(after),
         f"served by {VICTIM_POP}": sum(p == VICTIM_POP for _, p in after),
         "served by another PoP": elsewhere, "failed": failed},
    ]  # fmt: skip
    return Findings(
        table=rows,
        checks=[
            Check(
                "failed requests from the kill on",
                failed / max(1, len(after)) * 100,
                "<=",
                1.0,
                "%",
            ),
            Check("requests served by the next nearest PoP meanwhile", elsewhere, ">", 0),
            Check(f"seconds until {VICTIM_POP} served again", recovery, "<", 30.0, " s"),
        ],
        setup={
            "clients": f"{PROBES_PER_S}/s from {REGION} (x-client-region), a new connection each",
            "fault": f"SIGKILL of {VICTIM} ({VICTIM_POP}) at {killed_at:.1f} s; the supervisor "
            "restarts it after its backoff",
        },
        series=[
            Series(pop, per_second(served, pop), "requests per second")
            for pop in sorted({p for _, p in served})
        ],
    )


EXPERIMENT = Experiment(
    name="cloudflare-pop-loss",
    company="Cloudflare",
    claim='Every PoP is identical: no special "primary" or "origin" data centers. Any PoP '
    "can handle any request; failure of one PoP is invisible.",
    hypothesis="While a region's PoP is down, the next nearest serves its clients: at most 1% "
    "of requests fail, and the PoP serves again within 30 s.",
    action="SIGKILL the us-east PoP under load (the supervisor restarts it)",
    run=run,
    kills=True,
)
