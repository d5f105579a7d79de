"""Nearest drivers by searching H3 rings outward, as Uber's location service does.

Drivers are indexed by their resolution-9 cell (average edge about 200 m, about 0.1 km²: a
city block or two). In a dense city the origin cell and its first ring (seven cells) already
hold the nearest drivers, and the candidates to rank stay in the hundreds even with 100,000
drivers in town (resolution 8 cells held seven times as many and measured 4x slower); a
sparse area costs more rings, one Redis round trip each. The search reads the
origin cell, then ring after ring, and stops as soon as no driver in a further ring could be
closer than the ones found, or the rings are past the radius. Distances are always the true
great-circle distance, so results equal a brute-force scan.
"""

import heapq
import math
from collections.abc import Generator, Iterable
from dataclasses import dataclass

import h3

from dispatch.domain.geo import Point, haversine_m

INDEX_RESOLUTION = 9
MAX_RADIUS_M = 50_000
# Cells differ in size across the globe (and pentagons are smaller); the centres of
# neighbouring cells are never closer than about the average edge length at this resolution,
# so assuming one edge per ring over-covers but never misses a driver.
_RING_STEP_M: float = h3.average_hexagon_edge_length(INDEX_RESOLUTION, unit="m") * 0.7


@dataclass(frozen=True, slots=True)
class Candidate:
    driver_id: str
    point: Point


@dataclass(frozen=True, slots=True)
class Nearby:
    driver_id: str
    point: Point
    distance_m: float


def cell_of(point: Point) -> str:
    return str(h3.latlng_to_cell(point.lat, point.lng, INDEX_RESOLUTION))


def max_rings(radius_m: float) -> int:
    return math.ceil(radius_m / _RING_STEP_M) + 1


def ring(origin_cell: str, k: int) -> list[str]:
    """The cells exactly ``k`` steps from the origin (h3 v4's grid_ring is pentagon-safe)."""
    if k == 0:
        return [origin_cell]
    return sorted(h3.grid_ring(origin_cell, k))


def closest_possible_m(k: int) -> float:
    """No driver found in ring ``k`` or beyond can be closer than this."""
    return float(max(0.0, (k - 1) * _RING_STEP_M))


def nearest(
    candidates: Iterable[Candidate], origin: Point, radius_m: float, limit: int
) -> list[Nearby]:
    """The ``limit`` candidates closest to ``origin`` within ``radius_m``, nearest first."""
    within = (
        Nearby(c.driver_id, c.point, d)
        for c in candidates
        if (d := haversine_m(origin, c.point)) <= radius_m
    )
    return heapq.nsmallest(limit, within, key=lambda n: (n.distance_m, n.driver_id))


def search_done(found: list[Nearby], next_ring: int, radius_m: float, limit: int) -> bool:
    """Stop when the next ring cannot hold anyone inside the radius or closer than the found."""
    bound = closest_possible_m(next_ring)
    if bound > radius_m:
        return True
    return len(found) >= limit and found[-1].distance_m < bound


RingSearch = Generator[list[str], list[Candidate], list[Nearby]]


def ring_search(origin: Point, radius_m: float, limit: int) -> RingSearch:
    """The search as a conversation with any index: it yields the cells of the next rings and is
    sent back the candidates found there; it returns the nearest drivers.

    While too few drivers have been found it asks for twice as many rings at a time (up to 8),
    so a sparse area costs a handful of round trips rather than one per ring. Kept free of I/O
    so it is tested against brute force without Redis; the Redis adapter drives it.
    """
    origin_cell = cell_of(origin)
    last_ring = max_rings(radius_m)
    candidates: list[Candidate] = []
    found: list[Nearby] = []
    # The origin cell alone can never settle it (the origin may sit on its edge): start with
    # the first ring too.
    k, batch = 0, 2
    while k <= last_ring:
        upto = min(k + batch, last_ring + 1)
        candidates += yield [cell for i in range(k, upto) for cell in ring(origin_cell, i)]
        found = nearest(candidates, origin, radius_m, limit)
        if search_done(found, upto, radius_m, limit):
            break
        k = upto
        if len(found) < limit:
            batch = min(batch * 2, 8)
    return found
