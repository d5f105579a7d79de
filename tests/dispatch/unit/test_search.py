"""The H3 ring search equals a brute-force scan, everywhere on the globe."""

import math
import random

import h3
import pytest

from dispatch.domain.geo import Point, haversine_m, validate_point
from dispatch.domain.search import (
    Candidate,
    Nearby,
    SearchTally,
    cell_of,
    max_rings,
    nearest,
    ring,
    ring_search,
)
from stackkit.errors import Invalid
from tests.dispatch.drivers import HOTSPOTS, drivers_around


def run_search(
    drivers: dict[str, Point], origin: Point, radius_m: float, limit: int
) -> tuple[list[Nearby], int]:
    by_cell: dict[str, list[Candidate]] = {}
    for driver_id, point in drivers.items():
        by_cell.setdefault(cell_of(point), []).append(Candidate(driver_id, point))
    search = ring_search(origin, radius_m, limit)
    cells = next(search)
    rings = 1
    while True:
        try:
            cells = search.send([c for cell in cells for c in by_cell.get(cell, [])])
            rings += 1
        except StopIteration as done:
            return done.value, rings


def brute_force(
    drivers: dict[str, Point], origin: Point, radius_m: float, limit: int
) -> list[Nearby]:
    return nearest([Candidate(i, p) for i, p in drivers.items()], origin, radius_m, limit)


@pytest.mark.parametrize("place", sorted(HOTSPOTS))
@pytest.mark.parametrize("seed", range(4))
def test_ring_search_equals_brute_force(place: str, seed: int) -> None:
    rng = random.Random(seed)
    centre = HOTSPOTS[place]
    drivers = {f"d{i}": p for i, p in enumerate(drivers_around(rng, centre, 400, spread_deg=0.08))}
    for _ in range(5):
        origin = drivers_around(rng, centre, 1, spread_deg=0.06)[0]
        radius = rng.choice([300, 1500, 5000, 12_000])
        limit = rng.choice([1, 5, 25])
        found, _ = run_search(drivers, origin, radius, limit)
        assert found == brute_force(drivers, origin, radius, limit), (place, origin, radius, limit)


def test_a_dense_area_answers_from_the_first_rings() -> None:
    rng = random.Random(7)
    centre = HOTSPOTS["sydney"]
    drivers = {f"d{i}": p for i, p in enumerate(drivers_around(rng, centre, 3000, spread_deg=0.02))}
    found, rings = run_search(drivers, centre, 5000, 5)
    assert len(found) == 5 and rings <= 3


def test_a_sparse_map_is_searched_to_the_radius_in_few_round_trips() -> None:
    found, round_trips = run_search({}, HOTSPOTS["sydney"], 2000, 5)
    assert found == []
    assert round_trips <= 6 < max_rings(2000), "rings are fetched in growing batches"


def test_rings_partition_the_disk() -> None:
    origin = cell_of(HOTSPOTS["pentagon"])
    seen: set[str] = set()
    for k in range(4):
        cells = set(ring(origin, k))
        assert not cells & seen
        seen |= cells
    assert origin in seen


@pytest.mark.parametrize(
    ("a", "b", "metres"),
    [
        (Point(52.52, 13.405), Point(48.8566, 2.3522), 877_500),
        (Point(0.0, 179.9), Point(0.0, -179.9), 22_239),
        (Point(90.0, 0.0), Point(-90.0, 0.0), 20_015_115),
        (Point(10.0, 10.0), Point(10.0, 10.0), 0),
    ],
)
def test_haversine(a: Point, b: Point, metres: float) -> None:
    assert haversine_m(a, b) == pytest.approx(metres, rel=2e-3, abs=1)


@pytest.mark.parametrize(
    ("lat", "lng", "param"),
    [
        (91, 0, "lat"),
        (-90.5, 0, "lat"),
        (0, 180.01, "lng"),
        (math.nan, 0, "lat"),
        (0, math.inf, "lng"),
        (True, 0, "lat"),
    ],
)
def test_invalid_points_are_rejected(lat: float, lng: float, param: str) -> None:
    with pytest.raises(Invalid) as error:
        validate_point(lat, lng)
    assert error.value.param == param


@pytest.mark.parametrize("place", sorted(HOTSPOTS))
def test_the_tally_counts_the_farthest_ring_and_every_candidate(place: str) -> None:
    rng = random.Random(place)
    origin = HOTSPOTS[place]
    drivers = {f"d{i}": p for i, p in enumerate(drivers_around(rng, origin, 200, 0.05))}
    by_cell: dict[str, list[Candidate]] = {}
    for driver_id, point in drivers.items():
        by_cell.setdefault(cell_of(point), []).append(Candidate(driver_id, point))
    for radius_m, limit in ((500, 1), (3000, 10), (20000, 50)):
        tally = SearchTally()
        search = ring_search(origin, radius_m, limit, tally)
        cells, farthest, sent = next(search), 0, 0
        while True:
            farthest = max(farthest, *(h3.grid_distance(cell_of(origin), c) for c in cells))
            batch = [c for cell in cells for c in by_cell.get(cell, [])]
            sent += len(batch)
            try:
                cells = search.send(batch)
            except StopIteration:
                break
        assert (tally.rings, tally.candidates) == (farthest, sent), (radius_m, limit)
