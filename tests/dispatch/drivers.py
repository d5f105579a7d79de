"""Random driver positions for tests, including the awkward places: poles, the antimeridian,
and the neighbourhood of an H3 pentagon."""

import random

import h3

from dispatch.domain.geo import Point
from dispatch.domain.search import INDEX_RESOLUTION


def _jitter(rng: random.Random, centre: Point, spread_deg: float) -> Point:
    lat = max(-90.0, min(90.0, centre.lat + rng.uniform(-spread_deg, spread_deg)))
    lng = (centre.lng + rng.uniform(-spread_deg, spread_deg) + 180.0) % 360.0 - 180.0
    return Point(lat, lng)


PENTAGON = Point(*h3.cell_to_latlng(sorted(h3.get_pentagons(INDEX_RESOLUTION))[3]))
HOTSPOTS = {
    "sydney": Point(-33.87, 151.21),
    "antimeridian": Point(-16.5, 179.99),
    "north_pole": Point(89.95, 0.0),
    "south_pole": Point(-89.9, 45.0),
    "pentagon": PENTAGON,
}


def drivers_around(
    rng: random.Random, centre: Point, count: int, spread_deg: float = 0.05
) -> list[Point]:
    return [_jitter(rng, centre, spread_deg) for _ in range(count)]
