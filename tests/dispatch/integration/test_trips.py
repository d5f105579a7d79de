"""Trips end to end: offers, accepts, declines, timeouts, the ride, and no double assignment."""

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from devstack.processes import wait_until
from devstack.stack import NativeStack
from dispatch.domain.geo import Point
from tests.dispatch.integration.test_locations import report
from tests.kafka_reading import read_topic

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def dispatch(native_stack: NativeStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{native_stack.edge_url}/dispatch", timeout=30) as client:
        yield client


def place(lat: float, lng: float) -> dict[str, float]:
    return {"lat": lat, "lng": lng}


def fleet(client: httpx.Client, centre: Point, count: int) -> list[str]:
    """``count`` drivers at increasing distances north of ``centre``, nearest first."""
    run = uuid.uuid4().hex[:6]
    drivers = {
        f"drv-{run}-{i}": Point(centre.lat + 0.001 * (i + 1), centre.lng) for i in range(count)
    }
    report(client, drivers)
    return list(drivers)


def request_trip(client: httpx.Client, centre: Point) -> dict[str, Any]:
    response = client.post(
        "/v1/trips",
        json={
            "rider_id": "rider-1",
            "pickup": place(centre.lat, centre.lng),
            "dropoff": place(centre.lat + 0.02, centre.lng + 0.02),
        },
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def act(client: httpx.Client, trip_id: object, step: str, driver: str) -> httpx.Response:
    return client.post(f"/v1/trips/{trip_id}/{step}", json={"driver_id": driver})


def test_a_trip_from_request_to_completion(dispatch: httpx.Client) -> None:
    centre = Point(41.0, 29.0)
    nearest, *_ = fleet(dispatch, centre, 3)
    trip = request_trip(dispatch, centre)
    assert (trip["status"], trip["offered_driver"]) == ("dispatching", nearest)
    assert trip["fare_amount"] >= 700 and trip["surge"] == 1.0
    for step, status in (
        ("accept", "accepted"),
        ("arrive", "arrived"),
        ("start", "in_progress"),
        ("complete", "completed"),
    ):
        response = act(dispatch, trip["id"], step, nearest)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status
    nearby = dispatch.get(
        "/v1/drivers/nearby", params={"lat": centre.lat, "lng": centre.lng, "limit": 1}
    ).json()
    assert nearby["drivers"][0]["driver_id"] == nearest, (
        "a driver is available again after the ride"
    )


def test_declines_move_the_offer_on_until_no_drivers(dispatch: httpx.Client) -> None:
    centre = Point(41.1, 29.1)
    first, second = fleet(dispatch, centre, 2)
    trip = request_trip(dispatch, centre)
    assert trip["offered_driver"] == first
    moved = act(dispatch, trip["id"], "decline", first).json()
    assert moved["offered_driver"] == second
    assert act(dispatch, trip["id"], "decline", second).json()["status"] == "no_drivers"


def test_an_unanswered_offer_times_out_to_the_next_driver(dispatch: httpx.Client) -> None:
    centre = Point(41.2, 29.2)
    first, second = fleet(dispatch, centre, 2)
    trip = request_trip(dispatch, centre)
    assert trip["offered_driver"] == first
    wait_until(
        lambda: dispatch.get(f"/v1/trips/{trip['id']}").json()["offered_driver"] == second,
        timeout_s=15,
        what="the offer to move to the second driver",
    )
    assert act(dispatch, trip["id"], "accept", first).status_code == 409, "the late driver lost it"


def test_illegal_moves_are_409s(dispatch: httpx.Client) -> None:
    centre = Point(41.3, 29.3)
    driver, other = fleet(dispatch, centre, 2)
    trip = request_trip(dispatch, centre)
    assert act(dispatch, trip["id"], "accept", other).json()["error"]["code"] == "not_your_trip"
    assert act(dispatch, trip["id"], "accept", driver).status_code == 200
    early = act(dispatch, trip["id"], "complete", driver)
    assert (early.status_code, early.json()["error"]["code"]) == (409, "trip_unexpected_state")
    assert (
        dispatch.post(
            f"/v1/trips/{trip['id']}/cancel", json={"rider_id": "someone-else"}
        ).status_code
        == 409
    )
    assert (
        dispatch.post(f"/v1/trips/{trip['id']}/cancel", json={"rider_id": "rider-1"}).json()[
            "status"
        ]
        == "canceled"
    )


async def test_concurrent_requests_never_double_assign(
    native_stack: NativeStack, dispatch: httpx.Client
) -> None:
    centre = Point(41.4, 29.4)
    drivers = fleet(dispatch, centre, 5)
    body = {
        "rider_id": "crowd",
        "pickup": place(centre.lat, centre.lng),
        "dropoff": place(41.5, 29.5),
    }
    async with httpx.AsyncClient(base_url=f"{native_stack.edge_url}/dispatch", timeout=60) as http:
        trips = [
            r.json()
            for r in await asyncio.gather(*(http.post("/v1/trips", json=body) for _ in range(20)))
        ]
        offered = [t["offered_driver"] for t in trips if t["status"] == "dispatching"]
        assert sorted(offered) == sorted(drivers), "each driver holds exactly one offer"
        assert sum(t["status"] == "no_drivers" for t in trips) == 15
        accepts = await asyncio.gather(
            *(
                http.post(f"/v1/trips/{t['id']}/accept", json={"driver_id": t["offered_driver"]})
                for t in trips
                if t["status"] == "dispatching"
                for _ in range(2)
            )
        )
    assert sorted(r.status_code for r in accepts) == [200] * 5 + [409] * 5
    conn = await asyncpg.connect(native_stack.servers.postgres.url("dispatch"))
    try:
        held = await conn.fetch(
            "SELECT driver_id, count(*) AS n FROM trips WHERE status = 'accepted' AND driver_id = ANY($1::text[]) "
            "GROUP BY driver_id",
            drivers,
        )
        assert sorted(r["driver_id"] for r in held) == sorted(drivers) and {
            r["n"] for r in held
        } == {1}
        busy, spare = drivers[0], next(t for t in trips if t["status"] == "no_drivers")
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(
                "UPDATE trips SET status = 'accepted', driver_id = $1 WHERE id = $2",
                busy,
                spare["id"],
            )
    finally:
        await conn.close()


def test_bad_trip_requests_are_400s(dispatch: httpx.Client) -> None:
    bad = dispatch.post(
        "/v1/trips", json={"rider_id": "r", "pickup": place(95, 0), "dropoff": place(0, 0)}
    )
    assert (bad.status_code, bad.json()["error"]["param"]) == (400, "pickup.lat")
    assert dispatch.get("/v1/trips/trip_nope").status_code == 404
    assert act(dispatch, "trip_nope", "teleport", "d").status_code in (400, 404, 405)


def test_surge_rises_with_demand_and_a_quote_keeps_its_price(dispatch: httpx.Client) -> None:
    centre = Point(41.6, 29.6)
    fleet(dispatch, centre, 2)
    params = {
        "pickup_lat": centre.lat,
        "pickup_lng": centre.lng,
        "dropoff_lat": 41.65,
        "dropoff_lng": 29.65,
    }
    calm = dispatch.get("/v1/quotes", params=params).json()
    assert calm["surge"] == 1.0 and calm["fare_amount"] >= 700
    for _ in range(40):
        request_trip(dispatch, centre)
    busy = dispatch.get("/v1/quotes", params=params).json()
    assert busy["surge"] > 1.0
    assert busy["fare_amount"] > calm["fare_amount"]
    kept = dispatch.post(
        "/v1/trips",
        json={
            "rider_id": "r",
            "pickup": place(centre.lat, centre.lng),
            "dropoff": place(41.65, 29.65),
            "quote_id": calm["quote_id"],
        },
    ).json()
    assert (kept["surge"], kept["fare_amount"]) == (1.0, calm["fare_amount"])


async def test_trip_events_reach_kafka_in_order_through_the_outbox(
    native_stack: NativeStack, dispatch: httpx.Client
) -> None:
    centre = Point(41.7, 29.7)
    (driver,) = fleet(dispatch, centre, 1)
    trip = request_trip(dispatch, centre)
    for step in ("accept", "arrive", "start", "complete"):
        assert act(dispatch, trip["id"], step, driver).status_code == 200
    seen = await read_topic(
        native_stack.servers.kafka.bootstrap_servers,
        "dispatch.trips",
        lambda r: json.loads(r.value)["type"] if r.key == str(trip["id"]).encode() else None,
        count=7,
    )
    assert seen == [
        f"dispatch.trip.{s}"
        for s in ("requested", "dispatch", "offer_next", "accept", "arrive", "start", "complete")
    ]
