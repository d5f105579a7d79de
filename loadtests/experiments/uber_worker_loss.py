"""Uber: Ringpop. Riders request trips through the edge in areas that dispatch-2 owns; then
dispatch-2 is killed and kept down: how long until its areas are owned by the survivor (the
member TTL is the bound), what trip decisions cost before, during and after the handover, and
whether any driver ended up offered two trips at once."""

import asyncio
import random
import time
import uuid

import asyncpg
import httpx

from dispatch.domain.geo import Point
from loadtests.experiments.lab import Lab, wait_until
from loadtests.experiments.model import Check, Experiment, Findings, Scale, Series, quantile

DURATION_S = {Scale.SMALL: 16.0, Scale.FULL: 60.0}
REQUESTS_PER_S = 8
VICTIM, SURVIVOR = "dispatch-2", "dispatch"
MEMBER_TTL_S = 3.0
"""DispatchSettings.member_ttl_s's default: a worker silent this long is off the ring."""
DOUBLE_BOOKED = """
    SELECT coalesce(driver_id, offered_driver) AS driver, count(*) AS trips FROM trips
    WHERE status IN ('dispatching', 'accepted', 'arrived', 'in_progress')
      AND coalesce(driver_id, offered_driver) IS NOT NULL
    GROUP BY 1 HAVING count(*) > 1
"""


async def owner(http: httpx.AsyncClient, point: Point) -> str:
    response = await http.get("/v1/areas/owner", params={"lat": point.lat, "lng": point.lng})
    response.raise_for_status()
    return str(response.json()["worker"])


async def run(lab: Lab, scale: Scale) -> Findings:
    rng = random.Random(11)
    duration = DURATION_S[scale]
    tag = uuid.uuid4().hex[:6]
    async with httpx.AsyncClient(base_url=lab.urls[SURVIVOR], timeout=10) as direct:
        places = [Point(rng.uniform(40, 55), rng.uniform(-5, 25)) for _ in range(80)]
        owned = [p for p in places if await owner(direct, p) == VICTIM][:12]
        if not owned:
            raise RuntimeError(f"{VICTIM} owns none of {len(places)} areas: is it on the ring?")
        drivers = [
            {"driver_id": f"w{tag}-{i}-{k}", "lat": p.lat + 0.001 * (k + 1), "lng": p.lng}
            for i, p in enumerate(owned)
            for k in range(30)
        ]
        for i in range(0, len(drivers), 1000):
            (
                await direct.post("/v1/locations", json={"updates": drivers[i : i + 1000]})
            ).raise_for_status()

    decisions: list[tuple[float, float, int, str]] = []  # (at, seconds, status, worker)
    start = time.monotonic()

    async def ride(http: httpx.AsyncClient, n: int) -> None:
        pickup = owned[n % len(owned)]
        body = {"rider_id": f"r{tag}-{n}", "pickup": {"lat": pickup.lat, "lng": pickup.lng},
                "dropoff": {"lat": pickup.lat + 0.02, "lng": pickup.lng}}  # fmt: skip
        sent = time.monotonic()
        try:
            response = await http.post("/dispatch/v1/trips", json=body)
            status, worker = response.status_code, response.headers.get("x-dispatch-worker", "")
        except httpx.HTTPError:
            status, worker = 0, ""
        decisions.append((sent - start, time.monotonic() - sent, status, worker))

    async def riders() -> None:
        async with httpx.AsyncClient(base_url=lab.edge_url, timeout=15) as http:
            tasks, n = [], 0
            while time.monotonic() - start < duration:
                tasks.append(asyncio.create_task(ride(http, n)))
                n += 1
                await asyncio.sleep(1 / REQUESTS_PER_S)
            await asyncio.gather(*tasks)

    riding = asyncio.create_task(riders())
    await asyncio.sleep(duration / 4)
    killed_at = time.monotonic() - start
    await asyncio.to_thread(lab.act, VICTIM, "kill")
    await asyncio.to_thread(lab.act, VICTIM, "stop")  # down until the end: the areas must move
    async with httpx.AsyncClient(base_url=lab.urls[SURVIVOR], timeout=10) as direct:

        async def reowned() -> bool:
            return all([await owner(direct, p) == SURVIVOR for p in owned])

        handover = await wait_until(reowned, timeout_s=30, what="the victim's areas re-owned",
                                    every_s=0.1)  # fmt: skip
    handed_over_at = killed_at + handover
    await riding
    await asyncio.to_thread(lab.act, VICTIM, "start")
    await lab.wait_ready(VICTIM)

    db = await asyncpg.connect(lab.database_urls["dispatch"], timeout=10)
    try:
        double_booked = len(await db.fetch(DOUBLE_BOOKED))
    finally:
        await db.close()

    windows = {
        "before the kill": [d for d in decisions if d[0] < killed_at],
        "handover": [d for d in decisions if killed_at <= d[0] < handed_over_at],
        "after the handover": [d for d in decisions if d[0] >= handed_over_at],
    }
    rows = [
        {"window": name, "trip requests": len(ds),
         "answered 200": sum(d[2] == 200 for d in ds),
         "failed": sum(d[2] != 200 for d in ds),
         "p50 ms": quantile([d[1] for d in ds], 0.5) * 1000,
         "p99 ms": quantile([d[1] for d in ds], 0.99) * 1000,
         "decided by": ", ".join(sorted({d[3] for d in ds if d[3]}))}
        for name, ds in windows.items()
    ]  # fmt: skip
    after = windows["after the handover"]
    return Findings(
        table=rows,
        checks=[
            Check("seconds to re-own the victim's areas", handover, "<=", MEMBER_TTL_S + 1.5, " s"),
            Check("drivers offered or holding two trips", double_booked, "<=", 0),
            Check(
                "trip requests answered after the handover",
                sum(d[2] == 200 for d in after) / max(1, len(after)) * 100,
                ">=",
                99.0,
                "%",
            ),
        ],
        setup={
            "areas": f"{len(owned)} resolution-7 areas owned by {VICTIM}, 30 drivers each",
            "riders": f"{REQUESTS_PER_S} trip requests/s through the edge",
            "fault": f"SIGKILL of {VICTIM} at {killed_at:.1f} s, kept down until the end",
            "bound": f"member TTL {MEMBER_TTL_S:g} s (+1.5 s: heartbeats and the poll)",
        },
        series=[Series("trip decision ms", [(d[0], d[1] * 1000) for d in sorted(decisions)], "ms")],
        notes=[f"handover finished {handover:.2f} s after the kill"],
    )


EXPERIMENT = Experiment(
    name="uber-worker-loss",
    company="Uber",
    claim="Ringpop: custom consistent hashing ring for dispatch. Stateful dispatch workers — "
    "each owns a geographic area.",
    hypothesis="A killed worker's areas are owned by the survivor within the member TTL, no "
    "driver is ever offered two trips, and trips are decided again once the ring moved.",
    action="SIGKILL dispatch-2 under rider load and keep it down; then start it again",
    run=run,
    kills=True,
)
