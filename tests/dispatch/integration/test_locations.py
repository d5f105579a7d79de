"""Location ingest and nearby queries over HTTP, on real Redis and Kafka, against brute force."""

import json
import random
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from devstack.stack import NativeStack
from dispatch.domain.geo import Point
from dispatch.domain.search import Candidate, nearest
from tests.dispatch.drivers import HOTSPOTS, drivers_around
from tests.kafka_reading import read_topic

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def dispatch(native_stack: NativeStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{native_stack.edge_url}/dispatch", timeout=30) as client:
        yield client


def report(client: httpx.Client, drivers: dict[str, Point], **extra: object) -> None:
    items = list(drivers.items())
    for start in range(0, len(items), 500):
        updates = [
            {"driver_id": i, "lat": p.lat, "lng": p.lng, **extra}
            for i, p in items[start : start + 500]
        ]
        response = client.post("/v1/locations", json={"updates": updates})
        assert response.status_code == 200, response.text


def query(
    client: httpx.Client, origin: Point, radius_m: float, limit: int
) -> list[tuple[str, float]]:
    response = client.get(
        "/v1/drivers/nearby",
        params={"lat": origin.lat, "lng": origin.lng, "radius_m": radius_m, "limit": limit},
    )
    assert response.status_code == 200, response.text
    return [(d["driver_id"], d["distance_m"]) for d in response.json()["drivers"]]


@pytest.mark.parametrize("place", sorted(HOTSPOTS))
def test_nearby_equals_brute_force(dispatch: httpx.Client, place: str) -> None:
    rng = random.Random(place)
    run = uuid.uuid4().hex[:6]
    drivers = {
        f"{place}-{run}-{i}": p
        for i, p in enumerate(drivers_around(rng, HOTSPOTS[place], 600, 0.08))
    }
    report(dispatch, drivers)
    for _ in range(6):
        origin = drivers_around(rng, HOTSPOTS[place], 1, 0.06)[0]
        radius, limit = rng.choice([500, 2000, 8000]), rng.choice([1, 10, 50])
        expected = nearest([Candidate(i, p) for i, p in drivers.items()], origin, radius, limit)
        got = query(dispatch, origin, radius, limit)
        assert [driver for driver, _ in got] == [n.driver_id for n in expected]
        assert [d for _, d in got] == pytest.approx([n.distance_m for n in expected], abs=0.01)


def test_busy_and_stale_drivers_drop_out(dispatch: httpx.Client) -> None:
    centre = Point(10.0, 20.0)
    run = uuid.uuid4().hex[:6]
    free, busy, gone = f"free-{run}", f"busy-{run}", f"stale-{run}"
    report(dispatch, {free: centre, busy: Point(10.0001, 20.0)})
    report(dispatch, {gone: Point(10.0002, 20.0)}, ts_ms=int(time.time() * 1000) - 60_000)
    assert [d for d, _ in query(dispatch, centre, 1000, 10)] == [free, busy]
    report(dispatch, {busy: Point(10.0001, 20.0)}, status="on_trip")
    assert [d for d, _ in query(dispatch, centre, 1000, 10)] == [free]
    report(dispatch, {free: centre}, status="offline")
    assert query(dispatch, centre, 1000, 10) == []


def test_an_older_ping_never_moves_a_driver_back(dispatch: httpx.Client) -> None:
    driver = f"late-{uuid.uuid4().hex[:6]}"
    now = int(time.time() * 1000)
    here, there = Point(-30.0, -60.0), Point(-30.5, -60.5)
    response = dispatch.post(
        f"/v1/drivers/{driver}/location", json={"lat": here.lat, "lng": here.lng, "ts_ms": now}
    )
    assert response.json() == {"applied": 1}
    late = dispatch.post(
        f"/v1/drivers/{driver}/location",
        json={"lat": there.lat, "lng": there.lng, "ts_ms": now - 5000},
    )
    assert late.json() == {"applied": 0}
    assert [d for d, _ in query(dispatch, here, 100, 5)] == [driver]
    assert query(dispatch, there, 100, 5) == []


async def test_location_updates_go_to_kafka_keyed_by_driver(
    native_stack: NativeStack, dispatch: httpx.Client
) -> None:
    driver = f"kafka-{uuid.uuid4().hex[:6]}"
    report(dispatch, {driver: Point(1.0, 1.0)})
    keys = await read_topic(
        native_stack.servers.kafka.bootstrap_servers,
        "dispatch.locations",
        lambda r: r.key if json.loads(r.value)["subject"] == driver else None,
        count=1,
    )
    assert keys[0] == driver.encode()


@pytest.mark.parametrize(
    ("method", "path", "body", "param"),
    [
        ("post", "/v1/drivers/d1/location", {"lat": 91, "lng": 0}, "lat"),
        ("post", "/v1/drivers/d1/location", {"lat": 0, "lng": -181}, "lng"),
        ("post", "/v1/drivers/d1/location", {"lat": 0, "lng": 0, "status": "asleep"}, "status"),
        ("post", "/v1/drivers/d1/location", {"lat": 0, "lng": 0, "speed": 3}, "speed"),
        ("post", "/v1/locations", {"updates": []}, "updates"),
        (
            "post",
            "/v1/locations",
            {"updates": [{"driver_id": "x", "lat": 0, "lng": 0}] * 1001},
            "updates",
        ),
        (
            "post",
            "/v1/locations",
            {"updates": [{"driver_id": "bad id!", "lat": 0, "lng": 0}]},
            "updates.0.driver_id",
        ),
        ("get", "/v1/drivers/nearby?lat=0&lng=0&radius_m=0", None, "radius_m"),
        ("get", "/v1/drivers/nearby?lat=0&lng=0&limit=0", None, "limit"),
        ("get", "/v1/drivers/nearby?lat=nan&lng=0", None, "lat"),
        ("get", "/v1/drivers/nearby?lat=abc&lng=0", None, "lat"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    dispatch: httpx.Client, method: str, path: str, body: object, param: str
) -> None:
    response = dispatch.request(method.upper(), path, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_nan_in_a_json_body_is_rejected(dispatch: httpx.Client) -> None:
    response = dispatch.post(
        "/v1/drivers/d1/location",
        content=b'{"lat": NaN, "lng": 0}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
