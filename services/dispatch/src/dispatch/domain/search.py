"""Nearest drivers by searching H3 rings outward, as Uber's location service does.

Drivers are indexed by their resolution-9 cell (average edge about 200 m, about 0.1 km²: a
city block or two). In a dense city the origin cell and its first ring (seven cells) already
hold the nearest drivers, and the candidates to rank stay in the hundreds even with 100,000
drivers in town (resolution 8 cells held seven times as many and measured 4x slower); a
sparse area costs more rings, one Redis round trip each. The search reads the
origin cell, then ring after ring, and stops as soon as no driver in a further ring could be
closer than the ones found, or the rings are past the radius. Distances are always the true
great-circle distance, so results equal a brute-force scan.

The search is a design switch (``dispatch.search``, :class:`SearchMode`): the H3 rings above,
Redis GEOSEARCH over a geo set kept beside the cells (:func:`geo_query` says what to ask it),
or a full scan of every driver. All three rank the same candidates by the same distance.
"""

import heapq
import math
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from enum import StrEnum

import h3

from dispatch.domain.geo import EARTH_RADIUS_M, Point, haversine_m

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


@dataclass(slots=True)
class SearchTally:
    """What one nearby search read, for its metrics and its span."""

    rings: int = 0
    """The farthest H3 ring read around the origin's cell (0: the cell alone, or a search
    that reads no rings: GEOSEARCH, a full scan)."""
    candidates: int = 0
    """Fresh available drivers read back and ranked by distance (a full scan: every one)."""


RingSearch = Generator[list[str], list[Candidate], list[Nearby]]


def ring_search(
    origin: Point, radius_m: float, limit: int, tally: SearchTally | None = None
) -> RingSearch:
    """The search as a conversation with any index: it yields the cells of the next rings and is
    sent back the candidates found there; it returns the nearest drivers.

    While too few drivers have been found it asks for twice as many rings at a time (up to 8),
    so a sparse area costs a handful of round trips rather than one per ring. Kept free of I/O
    so it is tested against brute force without Redis; the Redis adapter drives it. ``tally``,
    when given, is kept up to date with the rings read and the candidates sent back.
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
        if tally is not None:
            tally.rings, tally.candidates = upto - 1, len(candidates)
        found = nearest(candidates, origin, radius_m, limit)
        if search_done(found, upto, radius_m, limit):
            break
        k = upto
        if len(found) < limit:
            batch = min(batch * 2, 8)
    return found


class SearchMode(StrEnum):
    """How nearby drivers are found (the ``dispatch.search`` switch); the first is the seed's."""

    H3_RINGS = "h3_rings"
    GEOSEARCH = "geosearch"
    FULL_SCAN = "full_scan"


GEO_MAX_LAT = 85.05112878
"""Redis's geo sets index latitudes up to this (Web Mercator's limit): drivers nearer the poles
are kept in a plain set beside the geo set, and read whenever a search circle reaches there."""
REDIS_EARTH_RADIUS_M = 6372797.560856
"""The sphere Redis measures GEOSEARCH distances on: its metres are this over ours longer."""
GEO_SLACK_M = 3.0
"""More than a geo set's position error (52-bit geohashes: under half a metre), both ways."""


@dataclass(frozen=True, slots=True)
class GeoQuery:
    """What to ask GEOSEARCH so that no driver within the radius (on our sphere) is missed."""

    centre: Point
    """The origin, or the nearest point Redis can search from (its latitude clamped)."""
    radius_m: float
    """In Redis's metres, widened by the slack (and by the clamp's shift)."""
    ranked: bool
    """Redis's distances from ``centre`` rank drivers as ours from the origin do, so the reading
    may stop a slack past the ``limit``-th fresh driver. False when the centre was moved."""
    polar: bool
    """The circle reaches past :data:`GEO_MAX_LAT`: read the polar drivers too."""


def geo_query(origin: Point, radius_m: float) -> GeoQuery:
    """The GEOSEARCH that covers ``radius_m`` around ``origin``; its answers are candidates,
    ranked again with :func:`nearest` (our distance, our radius)."""
    centre = Point(max(-GEO_MAX_LAT, min(GEO_MAX_LAT, origin.lat)), origin.lng)
    shift_m = haversine_m(origin, centre)
    # Along the meridian a circle of radius r reaches exactly r / R radians of latitude further.
    reach_deg = abs(origin.lat) + math.degrees(radius_m / EARTH_RADIUS_M)
    scale = REDIS_EARTH_RADIUS_M / EARTH_RADIUS_M
    return GeoQuery(
        centre=centre,
        radius_m=(radius_m + shift_m) * scale + GEO_SLACK_M,
        ranked=shift_m == 0,
        polar=reach_deg > GEO_MAX_LAT,
    )
