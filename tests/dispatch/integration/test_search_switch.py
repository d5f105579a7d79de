"""The ``dispatch.search`` switch on the running stack: flipped in the stack's flag file, the
next nearby search is served the new way (``x-dispatch-search``, ``dispatch_nearby_seconds``)
within a flip, and every way gives the brute-force answer for the same drivers."""

import random
import uuid
from collections.abc import Iterator

import httpx
import pytest

from devstack.stack import REPO_FLAG_FILE, NativeStack
from dispatch.domain.geo import Point
from dispatch.domain.search import Candidate, SearchMode, nearest
from stackkit.flag_file import read_flag_file, set_flag, write_flag_file
from tests.dispatch.drivers import drivers_around
from tests.dispatch.integration.test_locations import report
from tests.flags.running import within_a_flip

pytestmark = pytest.mark.e2e


@pytest.fixture
def dispatch(native_stack: NativeStack) -> Iterator[httpx.Client]:
    """One dispatch worker, straight: its headers and its /metrics are the ones read."""
    with httpx.Client(base_url=native_stack.url("dispatch"), timeout=30) as client:
        yield client
    write_flag_file(native_stack.flags_path, read_flag_file(REPO_FLAG_FILE))


def nearby(client: httpx.Client, origin: Point, radius_m: float, limit: int) -> httpx.Response:
    response = client.get(
        "/v1/drivers/nearby",
        params={"lat": origin.lat, "lng": origin.lng, "radius_m": radius_m, "limit": limit},
    )
    assert response.status_code == 200, response.text
    return response


def served(client: httpx.Client, mode: SearchMode) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'dispatch_nearby_seconds_count{{search="{mode.value}"}}'):
            return float(line.split()[-1])
    return 0.0


async def test_every_search_mode_returns_the_brute_force_answer(
    native_stack: NativeStack, dispatch: httpx.Client
) -> None:
    run = uuid.uuid4().hex
    rng = random.Random(run)
    # Somewhere no other test puts drivers, so the stack's Redis holds only these here.
    centre = Point(rng.uniform(-50, 50), rng.uniform(-179, 179))
    drivers = {
        f"search-{run[:6]}-{i}": p for i, p in enumerate(drivers_around(rng, centre, 300, 0.05))
    }
    report(dispatch, drivers)
    queries = [
        (drivers_around(rng, centre, 1, 0.04)[0], rng.choice([500, 3000, 8000]), rng.choice([1, 10, 50]))
        for _ in range(5)
    ]  # fmt: skip
    for mode in [SearchMode.GEOSEARCH, SearchMode.FULL_SCAN, SearchMode.H3_RINGS]:
        set_flag(native_stack.flags_path, "dispatch.search", mode.value)
        origin = queries[0][0]

        async def switched(mode: SearchMode = mode, origin: Point = origin) -> bool:
            return nearby(dispatch, origin, 100, 1).headers["x-dispatch-search"] == mode.value

        await within_a_flip(switched, f"nearby searches served by {mode.value}")
        before = served(dispatch, mode)
        for origin, radius, limit in queries:
            expected = nearest([Candidate(i, p) for i, p in drivers.items()], origin, radius, limit)
            response = nearby(dispatch, origin, radius, limit)
            assert response.headers["x-dispatch-search"] == mode.value
            got = response.json()["drivers"]
            assert [d["driver_id"] for d in got] == [n.driver_id for n in expected], mode
            assert [d["distance_m"] for d in got] == pytest.approx(
                [n.distance_m for n in expected], abs=0.01
            )
        # At least these (the header said who served each); the last poll of ``switched`` may
        # be observed just after ``before`` was read, the histogram being updated as the
        # response completes (a CI run counted 6 for 5).
        assert served(dispatch, mode) - before >= len(queries)
