"""Uber: surge pricing. A demand spike in one area (many trip requests, two drivers): does its
multiplier rise within the demand window, does a trip booked on a quote made before the spike
keep that price, and (full scale) does the multiplier fall back once demand is gone."""

import asyncio
import random
import time
import uuid
from typing import Any

import httpx

from dispatch.domain.geo import Point
from loadtests.experiments.lab import Lab, wait_until
from loadtests.experiments.model import Check, Experiment, Findings, Scale, Series

SPIKE = {Scale.SMALL: 40, Scale.FULL: 120}
"""Trip requests in the spike."""
WINDOW_S = 60.0
"""dispatch.demand.WINDOW_S: demand counts requests over a sliding minute."""
FALL_LIMIT_S = 200.0


async def run(lab: Lab, scale: Scale) -> Findings:
    rng = random.Random(3)
    tag = uuid.uuid4().hex[:6]
    pickup = Point(rng.uniform(-30, 30), rng.uniform(-100, 100))
    dropoff = Point(pickup.lat + 0.03, pickup.lng)
    where = {"pickup_lat": pickup.lat, "pickup_lng": pickup.lng,
             "dropoff_lat": dropoff.lat, "dropoff_lng": dropoff.lng}  # fmt: skip
    start = time.monotonic()
    seen: list[tuple[float, float]] = []
    async with httpx.AsyncClient(base_url=lab.urls["dispatch"], timeout=15) as http:

        async def current() -> dict[str, Any]:
            response = await http.get("/v1/quotes", params=where)
            response.raise_for_status()
            quote: dict[str, Any] = response.json()
            seen.append((time.monotonic() - start, float(quote["surge"])))
            return quote

        drivers = [{"driver_id": f"s{tag}-{k}", "lat": pickup.lat + 0.001 * k, "lng": pickup.lng}
                   for k in range(2)]  # fmt: skip
        (await http.post("/v1/locations", json={"updates": drivers})).raise_for_status()
        before = await current()

        async def request(n: int) -> None:
            body = {"rider_id": f"spike{tag}-{n}", "pickup": {"lat": pickup.lat, "lng": pickup.lng},
                    "dropoff": {"lat": dropoff.lat, "lng": dropoff.lng}}  # fmt: skip
            await http.post("/v1/trips", json=body)

        spike_at = time.monotonic() - start
        await asyncio.gather(*(request(n) for n in range(SPIKE[scale])))

        async def risen() -> bool:
            return float((await current())["surge"]) > 1.0

        rise_s = await wait_until(risen, timeout_s=WINDOW_S, what="the area's surge rising",
                                  every_s=0.5)  # fmt: skip
        during = await current()
        booked = await http.post("/v1/trips", json={
            "rider_id": f"quoted{tag}", "quote_id": before["quote_id"],
            "pickup": {"lat": pickup.lat, "lng": pickup.lng},
            "dropoff": {"lat": dropoff.lat, "lng": dropoff.lng}})  # fmt: skip
        booked.raise_for_status()
        kept = float(booked.json()["surge"])
        fall_s = float("nan")
        if scale is Scale.FULL:

            async def fallen() -> bool:
                return float((await current())["surge"]) <= 1.0

            fall_s = await wait_until(fallen, timeout_s=FALL_LIMIT_S, every_s=2.0,
                                      what="the area's surge falling back")  # fmt: skip
    checks = [
        Check("seconds for the multiplier to rise", rise_s, "<=", WINDOW_S, " s"),
        Check("multiplier during the spike", float(during["surge"]), ">", 1.0, "x"),
        Check(
            "price kept by a quote from before the spike (its multiplier)",
            kept,
            "<=",
            float(before["surge"]),
            "x",
        ),
    ]
    if scale is Scale.FULL:
        checks.append(Check("seconds for it to fall back once demand stopped", fall_s, "<=",
                            2 * WINDOW_S + 30, " s"))  # fmt: skip
    return Findings(
        table=[
            {"moment": "before the spike", "surge": before["surge"]},
            {"moment": f"{rise_s:.1f} s after the spike", "surge": during["surge"]},
            {"moment": "a trip on the earlier quote", "surge": kept},
            {
                "moment": "fallen back after" if scale is Scale.FULL else "fall (full scale only)",
                "surge": f"{fall_s:.0f} s" if scale is Scale.FULL else "not measured",
            },
        ],
        checks=checks,
        setup={
            "area": f"a resolution-7 area around ({pickup.lat:.3f}, {pickup.lng:.3f}), 2 drivers",
            "spike": f"{SPIKE[scale]} trip requests at once, at {spike_at:.1f} s",
            "window": f"demand over a sliding {WINDOW_S:g} s",
        },
        series=[Series("surge multiplier", seen, "x")],
    )


EXPERIMENT = Experiment(
    name="uber-surge",
    company="Uber",
    claim="Surge pricing is a real-time supply/demand balancing system. It monitors rider "
    "requests and driver availability per geographic zone, adjusting prices to incentivize "
    "more drivers to enter high-demand areas.",
    hypothesis="A spike raises the area's multiplier within its demand window, a trip booked on "
    "an earlier quote keeps its price, and (full scale) the multiplier falls back after.",
    action="a burst of trip requests in one area with two drivers",
    run=run,
)
