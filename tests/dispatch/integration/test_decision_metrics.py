"""Dispatch's decision metrics on the running stack, read from each worker's /metrics after the
behaviour that moves them: a trip decided (forwarded to the area's owner, and with no driver
near), nearby searches in every ``dispatch.search`` mode, and a worker leaving, expiring and
joining the ring."""

import random
import uuid
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack.stack import REPO_FLAG_FILE, NativeStack
from dispatch.domain.geo import Point
from dispatch.domain.search import SearchMode
from stackkit.flag_file import read_flag_file, set_flag, write_flag_file
from tests.dispatch.drivers import drivers_around
from tests.dispatch.integration.test_locations import report
from tests.dispatch.integration.test_ownership import owner
from tests.flags.running import within_a_flip
from tests.waiting import eventually

pytestmark = pytest.mark.e2e


def sample(client: httpx.Client, name: str, labels: dict[str, str]) -> float:
    """One sample of the worker's /metrics (0 when the series is not there yet)."""
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


@pytest.fixture
def workers(native_stack: NativeStack) -> Iterator[dict[str, httpx.Client]]:
    """Each dispatch worker, straight (not through the edge): its own /metrics."""
    with (
        httpx.Client(base_url=native_stack.url("dispatch"), timeout=30) as first,
        httpx.Client(base_url=native_stack.url("dispatch-2"), timeout=30) as second,
    ):
        yield {"dispatch": first, "dispatch-2": second}


def trip(client: httpx.Client, pickup: Point) -> httpx.Response:
    return client.post(
        "/v1/trips",
        json={
            "rider_id": "metrics-rider",
            "pickup": {"lat": pickup.lat, "lng": pickup.lng},
            "dropoff": {"lat": pickup.lat + 0.02, "lng": pickup.lng},
        },
    )


async def test_a_decision_is_timed_once_at_the_first_worker_with_its_outcome(
    workers: dict[str, httpx.Client],
) -> None:
    first, second = workers["dispatch"], workers["dispatch-2"]
    rng = random.Random(uuid.uuid4().hex)
    places = [Point(rng.uniform(-40, 40), rng.uniform(-170, 170)) for _ in range(60)]

    async def both_on_the_ring() -> bool:
        return len({owner(first, p) for p in places}) == 2

    await eventually(both_on_the_ring, timeout_s=10, what="both workers on the ring")
    # Owned by the second worker and asked of the first: forwarded, decided there.
    pickup = next(p for p in places if owner(first, p) == "dispatch-2")
    run = uuid.uuid4().hex[:6]
    report(first, {f"decide-{run}": Point(pickup.lat + 0.001, pickup.lng)})
    series = "dispatch_decision_seconds_count"
    offered, none = {"outcome": "offered"}, {"outcome": "no_driver"}
    before = {name: sample(c, series, offered) for name, c in workers.items()}
    none_before = sample(first, series, none)

    response = trip(first, pickup)
    assert response.status_code == 200, response.text
    assert response.headers["x-dispatch-worker"] == "dispatch-2", "forwarded to the owner"
    assert response.json()["offered_driver"] == f"decide-{run}"
    assert sample(first, series, offered) == before["dispatch"] + 1
    assert sample(second, series, offered) == before["dispatch-2"], "the owner counts it no more"
    assert sample(first, "dispatch_decision_seconds_sum", offered) > 0

    # Nobody near a place of its own: no driver, decided wherever it lands.
    empty = next(p for p in places if owner(first, p) == "dispatch")
    nobody = trip(first, Point(empty.lat, empty.lng))
    assert nobody.status_code == 200, nobody.text
    assert nobody.json()["status"] == "no_drivers"
    assert sample(first, series, none) == none_before + 1


async def test_every_nearby_search_counts_its_rings_and_candidates_under_its_mode(
    native_stack: NativeStack, workers: dict[str, httpx.Client]
) -> None:
    client = workers["dispatch"]
    run = uuid.uuid4().hex
    rng = random.Random(run)
    centre = Point(rng.uniform(-50, 50), rng.uniform(-179, 179))  # nobody else's drivers here
    drivers = {
        f"rings-{run[:6]}-{i}": p for i, p in enumerate(drivers_around(rng, centre, 40, 0.005))
    }
    report(client, drivers)
    params = {"lat": centre.lat, "lng": centre.lng, "radius_m": 3000, "limit": 10}
    try:
        for mode in (SearchMode.GEOSEARCH, SearchMode.FULL_SCAN, SearchMode.H3_RINGS):
            set_flag(native_stack.flags_path, "dispatch.search", mode.value)

            async def switched(mode: SearchMode = mode) -> bool:
                answer = client.get("/v1/drivers/nearby", params={**params, "limit": 1})
                return answer.headers["x-dispatch-search"] == mode.value

            await within_a_flip(switched, f"nearby searches served by {mode.value}")
            labels = {"search": mode.value}
            names = ("dispatch_nearby_rings_count", "dispatch_nearby_rings_sum",
                     "dispatch_nearby_candidates_sum")  # fmt: skip
            before = {name: sample(client, name, labels) for name in names}
            answer = client.get("/v1/drivers/nearby", params=params)
            assert answer.headers["x-dispatch-search"] == mode.value
            assert len(answer.json()["drivers"]) == 10
            grew = {name: sample(client, name, labels) - before[name] for name in names}
            # At least one search (a last poll of ``switched`` may land after ``before``).
            assert grew["dispatch_nearby_rings_count"] >= 1, mode
            # Ten found among at least ten considered; a full scan considers every driver.
            least = len(drivers) if mode is SearchMode.FULL_SCAN else 10
            assert grew["dispatch_nearby_candidates_sum"] >= least, mode
            if mode is SearchMode.H3_RINGS:
                assert grew["dispatch_nearby_rings_sum"] >= 1, "rings around the origin cell"
            else:
                assert grew["dispatch_nearby_rings_sum"] == 0, f"{mode} reads no rings"
    finally:
        write_flag_file(native_stack.flags_path, read_flag_file(REPO_FLAG_FILE))


async def test_the_area_ownership_changes_when_a_worker_leaves_expires_and_joins(
    native_stack: NativeStack, workers: dict[str, httpx.Client]
) -> None:
    staying = workers["dispatch"]
    series = "dispatch_area_ownership_changes_total"

    def counts() -> dict[str, float]:
        return {r: sample(staying, series, {"reason": r}) for r in ("joined", "left", "expired")}

    async def counted(reason: str, since: dict[str, float]) -> None:
        async def moved() -> bool:
            return counts()[reason] > since[reason]

        await eventually(moved, timeout_s=15, what=f"dispatch to count {reason!r}")

    try:
        before = counts()
        native_stack.stop(["dispatch-2"])  # graceful: it takes itself off the ring
        await counted("left", before)
        assert counts()["expired"] == before["expired"], "a leaver does not expire"
        before = counts()
        native_stack.start(["dispatch-2"])
        await counted("joined", before)
        # The newcomer's own first ring is one join, however many workers it found there.
        assert sample(workers["dispatch-2"], series, {"reason": "joined"}) == 1
        before = counts()
        native_stack.kill("dispatch-2")  # silent: its heartbeat goes stale
        await counted("expired", before)
        assert counts()["left"] == before["left"]
    finally:
        if not native_stack.processes["dispatch-2"].alive:
            native_stack.start(["dispatch-2"])
