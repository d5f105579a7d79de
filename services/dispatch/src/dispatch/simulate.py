"""Watch dispatch work: N drivers drive around a city and riders request trips.

    uv run python -m dispatch.simulate --drivers 500 --riders-per-second 5 --seconds 60
        [--base-url http://127.0.0.1:8080/dispatch]

Drivers move toward random waypoints at city speed and report in batches every ping interval;
each offered driver accepts (80%) or declines, then arrives, starts and completes the ride.
It prints a line every few seconds and stops by itself; it doubles as a load source.
"""

import argparse
import asyncio
import random
import statistics
import time
from dataclasses import dataclass, field

import httpx

from dispatch.domain.geo import Point, haversine_m
from dispatch.domain.matching import CITY_SPEED_M_S
from stackkit.http import internal_client

CITY = Point(52.52, 13.405)
SPREAD_DEG = 0.08


@dataclass
class SimDriver:
    id: str
    at: Point
    towards: Point
    busy: bool = False


@dataclass
class Tally:
    requested: int = 0
    offered: int = 0
    accepted: int = 0
    declined: int = 0
    no_drivers: int = 0
    completed: int = 0
    errors: int = 0
    decision_ms: list[float] = field(default_factory=list)


def somewhere(rng: random.Random) -> Point:
    return Point(
        CITY.lat + rng.uniform(-SPREAD_DEG, SPREAD_DEG),
        CITY.lng + rng.uniform(-SPREAD_DEG, SPREAD_DEG) * 1.6,
    )


def step(driver: SimDriver, seconds: float, rng: random.Random) -> None:
    remaining = haversine_m(driver.at, driver.towards)
    travel = CITY_SPEED_M_S * seconds
    if remaining <= travel:
        driver.at, driver.towards = driver.towards, somewhere(rng)
        return
    share = travel / remaining
    driver.at = Point(
        driver.at.lat + (driver.towards.lat - driver.at.lat) * share,
        driver.at.lng + (driver.towards.lng - driver.at.lng) * share,
    )


async def drive(
    http: httpx.AsyncClient,
    drivers: dict[str, SimDriver],
    ping_s: float,
    until: float,
    rng: random.Random,
) -> None:
    while time.monotonic() < until:
        for driver in drivers.values():
            step(driver, ping_s, rng)
        updates = [
            {
                "driver_id": d.id,
                "lat": d.at.lat,
                "lng": d.at.lng,
                "status": "on_trip" if d.busy else "available",
            }
            for d in drivers.values()
        ]
        for start in range(0, len(updates), 500):
            await http.post("/v1/locations", json={"updates": updates[start : start + 500]})
        await asyncio.sleep(ping_s)


async def ride(
    http: httpx.AsyncClient,
    trip: dict[str, object],
    drivers: dict[str, SimDriver],
    tally: Tally,
    rng: random.Random,
) -> None:
    while trip.get("status") == "dispatching" and trip.get("offered_driver"):
        driver_id = str(trip["offered_driver"])
        tally.offered += 1
        if rng.random() < 0.2:
            tally.declined += 1
            trip = (
                await http.post(f"/v1/trips/{trip['id']}/decline", json={"driver_id": driver_id})
            ).json()
            continue
        accepted = await http.post(f"/v1/trips/{trip['id']}/accept", json={"driver_id": driver_id})
        if accepted.status_code != 200:
            return
        tally.accepted += 1
        drivers[driver_id].busy = True
        for step_name in ("arrive", "start", "complete"):
            await asyncio.sleep(rng.uniform(0.5, 2.0))
            await http.post(f"/v1/trips/{trip['id']}/{step_name}", json={"driver_id": driver_id})
        drivers[driver_id].busy = False
        tally.completed += 1
        return
    if trip.get("status") == "no_drivers":
        tally.no_drivers += 1


async def riders(
    http: httpx.AsyncClient,
    drivers: dict[str, SimDriver],
    rate: float,
    until: float,
    tally: Tally,
    rng: random.Random,
) -> None:
    rides: set[asyncio.Task[None]] = set()
    while time.monotonic() < until:
        pickup, dropoff = somewhere(rng), somewhere(rng)
        body = {
            "rider_id": f"rider-{rng.randrange(10_000)}",
            "pickup": {"lat": pickup.lat, "lng": pickup.lng},
            "dropoff": {"lat": dropoff.lat, "lng": dropoff.lng},
        }
        started = time.perf_counter()
        response = await http.post("/v1/trips", json=body)
        tally.decision_ms.append((time.perf_counter() - started) * 1000)
        tally.requested += 1
        if response.status_code != 200:
            tally.errors += 1
        else:
            task = asyncio.create_task(ride(http, response.json(), drivers, tally, rng))
            rides.add(task)
            task.add_done_callback(rides.discard)
        await asyncio.sleep(1 / rate)
    await asyncio.gather(*rides, return_exceptions=True)


async def report(tally: Tally, until: float, every_s: float) -> None:
    while time.monotonic() < until:
        await asyncio.sleep(every_s)
        latencies = tally.decision_ms or [0.0]
        print(
            f"requested {tally.requested}  offered {tally.offered}  accepted {tally.accepted}  "
            f"declined {tally.declined}  no drivers {tally.no_drivers}  "
            f"completed {tally.completed}  errors {tally.errors}  "
            f"decision p50 {statistics.median(latencies):.1f} ms",
            flush=True,
        )


async def simulate(
    base_url: str, drivers: int, rate: float, seconds: float, ping_s: float, seed: int
) -> Tally:
    rng = random.Random(seed)
    fleet = {
        f"sim-{i}": SimDriver(f"sim-{i}", somewhere(rng), somewhere(rng)) for i in range(drivers)
    }
    tally = Tally()
    until = time.monotonic() + seconds
    # 100 connections: httpx's default, what the simulation was tuned with.
    async with internal_client(30.0, max_connections=100, base_url=base_url) as http:
        await asyncio.gather(
            drive(http, fleet, ping_s, until, rng),
            riders(http, fleet, rate, until, tally, rng),
            report(tally, until, 5.0),
        )
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m dispatch.simulate")
    parser.add_argument("--base-url", default="http://127.0.0.1:8080/dispatch")
    parser.add_argument("--drivers", type=int, default=500)
    parser.add_argument("--riders-per-second", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--ping-seconds", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    tally = asyncio.run(
        simulate(
            args.base_url,
            args.drivers,
            args.riders_per_second,
            args.seconds,
            args.ping_seconds,
            args.seed,
        )
    )
    print(
        f"done: {tally.requested} trips, {tally.completed} completed, "
        f"{tally.no_drivers} without drivers, {tally.errors} errors"
    )


if __name__ == "__main__":
    main()
