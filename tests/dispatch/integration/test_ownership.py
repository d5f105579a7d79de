"""Areas are owned by dispatch workers on a hash ring; a dead worker's areas and trips move on."""

import uuid

import httpx
import pytest

from devstack.processes import wait_until
from devstack.stack import NativeStack
from dispatch.domain.geo import Point
from tests.dispatch.integration.test_locations import report

pytestmark = pytest.mark.e2e


def owner(client: httpx.Client, point: Point) -> str:
    worker: str = client.get("/v1/areas/owner", params={"lat": point.lat, "lng": point.lng}).json()[
        "worker"
    ]
    return worker


def test_the_owner_decides_and_a_dead_workers_areas_and_trips_move(
    native_stack: NativeStack,
) -> None:
    with httpx.Client(base_url=f"{native_stack.edge_url}/dispatch", timeout=30) as client:
        candidates = [Point(35.0 + 0.5 * i, 135.0) for i in range(40)]
        wait_until(
            lambda: len({owner(client, p) for p in candidates}) == 2,
            timeout_s=10,
            what="both workers on the ring",
        )
        point = next(p for p in candidates if owner(client, p) == "dispatch-2")
        run = uuid.uuid4().hex[:6]
        first, second = f"own-{run}-1", f"own-{run}-2"
        report(
            client,
            {
                first: Point(point.lat + 0.001, point.lng),
                second: Point(point.lat + 0.002, point.lng),
            },
        )
        body = {
            "rider_id": "r",
            "pickup": {"lat": point.lat, "lng": point.lng},
            "dropoff": {"lat": point.lat + 0.02, "lng": point.lng},
        }
        response = client.post("/v1/trips", json=body)
        assert response.headers["x-dispatch-worker"] == "dispatch-2", "forwarded to the owner"
        trip = response.json()
        assert trip["offered_driver"] == first
        native_stack.kill("dispatch-2")
        try:
            wait_until(
                lambda: owner(client, point) == "dispatch", timeout_s=10, what="the area to move"
            )
            wait_until(
                lambda: client.get(f"/v1/trips/{trip['id']}").json()["offered_driver"] == second,
                timeout_s=15, what="the orphaned offer to time out and move on",
            )  # fmt: skip
            report(client, {f"own-{run}-3": Point(point.lat + 0.0015, point.lng)})
            again = client.post("/v1/trips", json=body)
            assert again.status_code == 200
            assert again.headers["x-dispatch-worker"] == "dispatch"
        finally:
            native_stack.start(["dispatch-2"])
