"""Bad input to dispatch's own app on real Postgres and Redis: a NUL byte in any id, a malformed
path id and integers past 64 bits are 400s in the stack's error shape, never a 500."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devstack.stack import NativeStack

pytestmark = pytest.mark.integration

NUL = "a\x00b"
PLACE = {"lat": 52.52, "lng": 13.40}


@pytest.fixture(scope="module")
def dispatch(origins: NativeStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=origins.url("dispatch"), timeout=30) as client:
        yield client


def _trip(dispatch: httpx.Client) -> str:
    dispatch.post("/v1/drivers/drv-bad-input/location", json=PLACE)
    trip = dispatch.post("/v1/trips", json={"rider_id": "r1", "pickup": PLACE, "dropoff": PLACE})
    assert trip.status_code == 200, trip.text
    return str(trip.json()["id"])


CASES: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "trip id (get)": ("GET", "/v1/trips/t%00x", None),
    "trip id (accept)": ("POST", "/v1/trips/t%00x/accept", {"driver_id": "d1"}),
    "trip id (cancel)": ("POST", "/v1/trips/t%00x/cancel", {"rider_id": "r1"}),
    "trip id (advance)": ("POST", "/v1/trips/t%00x/arrive", {"driver_id": "d1"}),
    "rider id": ("POST", "/v1/trips", {"rider_id": NUL, "pickup": PLACE, "dropoff": PLACE}),
    "quote id": ("POST", "/v1/trips",
                 {"rider_id": "r1", "pickup": PLACE, "dropoff": PLACE, "quote_id": NUL}),
    "driver id (location path)": ("POST", "/v1/drivers/d%00x/location", PLACE),
    "driver id (batch)": ("POST", "/v1/locations", {"updates": [{"driver_id": NUL, **PLACE}]}),
    "malformed driver id (path)": ("POST", "/v1/drivers/a%20b/location", PLACE),
    "overlong driver id (path)": ("POST", f"/v1/drivers/{'d' * 65}/location", PLACE),
    "ts_ms past 64 bits": ("POST", "/v1/drivers/d1/location", {**PLACE, "ts_ms": 2**64}),
    "limit past 64 bits": ("GET", f"/v1/drivers/nearby?lat=1&lng=1&limit={2**70}", None),
    "lat NaN": ("GET", "/v1/drivers/nearby?lat=nan&lng=1", None),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_a_400(dispatch: httpx.Client, case: str) -> None:
    method, path, body = CASES[case]
    answer = dispatch.request(method, path, json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("step", ["accept", "decline", "arrive", "start", "complete"])
def test_a_nul_driver_id_acting_on_a_real_trip_is_a_400(dispatch: httpx.Client, step: str) -> None:
    answer = dispatch.post(f"/v1/trips/{_trip(dispatch)}/{step}", json={"driver_id": NUL})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == "driver_id"


def test_a_nul_rider_id_cancelling_a_real_trip_is_a_400(dispatch: httpx.Client) -> None:
    answer = dispatch.post(f"/v1/trips/{_trip(dispatch)}/cancel", json={"rider_id": NUL})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == "rider_id"
