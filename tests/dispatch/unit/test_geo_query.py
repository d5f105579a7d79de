"""What GEOSEARCH is asked (``geo_query``): a circle that covers every driver within the radius
on our sphere, measured as Redis measures, whatever the latitude."""

import math
import random

import pytest

from dispatch.domain.geo import EARTH_RADIUS_M, Point, haversine_m
from dispatch.domain.search import (
    GEO_MAX_LAT,
    GEO_SLACK_M,
    REDIS_EARTH_RADIUS_M,
    SearchMode,
    geo_query,
)
from stackkit.flag_catalog import SPECS_BY_KEY


def redis_distance_m(a: Point, b: Point) -> float:
    """The same great circle on Redis's sphere."""
    return haversine_m(a, b) * REDIS_EARTH_RADIUS_M / EARTH_RADIUS_M


def test_the_modes_are_the_switch_s_choices_the_seed_s_first() -> None:
    choices = SPECS_BY_KEY["dispatch.search"].choices
    assert tuple(mode.value for mode in SearchMode) == choices
    assert choices[0] == SearchMode.H3_RINGS


def test_an_ordinary_origin_is_searched_from_itself_a_slack_wider() -> None:
    origin = Point(51.5, -0.12)
    query = geo_query(origin, 3000)
    assert query.centre == origin and query.ranked and not query.polar
    assert query.radius_m == pytest.approx(3000 * REDIS_EARTH_RADIUS_M / EARTH_RADIUS_M + 3.0)


@pytest.mark.parametrize(
    ("lat", "radius_m", "polar"),
    [(84.9, 1000, False), (84.9, 20_000, True), (-85.0, 10_000, True), (89.9, 100, True)],
)
def test_a_circle_reaching_past_the_geo_limit_reads_the_polar_drivers(
    lat: float, radius_m: float, polar: bool
) -> None:
    assert geo_query(Point(lat, 10.0), radius_m).polar is polar


def test_an_origin_past_the_limit_is_searched_from_the_limit_unranked() -> None:
    query = geo_query(Point(89.0, 30.0), 5000)
    assert query.centre == Point(GEO_MAX_LAT, 30.0)
    assert not query.ranked


@pytest.mark.parametrize("seed", range(20))
def test_every_point_within_the_radius_is_within_the_query(seed: int) -> None:
    rng = random.Random(seed)
    origin = Point(rng.uniform(-89.9, 89.9), rng.uniform(-180, 180))
    radius = rng.choice([50.0, 3000.0, 50_000.0])
    query = geo_query(origin, radius)
    for _ in range(200):
        # A point at a random bearing and distance up to the radius.
        bearing, d = rng.uniform(0, 2 * math.pi), rng.uniform(0, radius) / EARTH_RADIUS_M
        lat1, lng1 = math.radians(origin.lat), math.radians(origin.lng)
        lat2 = math.asin(
            math.sin(lat1) * math.cos(d) + math.cos(lat1) * math.sin(d) * math.cos(bearing)
        )
        lng2 = lng1 + math.atan2(
            math.sin(bearing) * math.sin(d) * math.cos(lat1),
            math.cos(d) - math.sin(lat1) * math.sin(lat2),
        )
        point = Point(math.degrees(lat2), (math.degrees(lng2) + 540) % 360 - 180)
        if abs(point.lat) > GEO_MAX_LAT:
            assert query.polar  # read from the polar set instead
            continue
        assert redis_distance_m(query.centre, point) <= query.radius_m - GEO_SLACK_M + 1e-6
