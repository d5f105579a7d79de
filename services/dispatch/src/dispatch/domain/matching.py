"""Choosing the driver: the shortest estimated time of arrival among the nearby ones.

The ETA model is deliberately simple and documented: the great-circle distance times a detour
factor (streets are not straight; 1.35 is typical of city grids) over an average city speed
(25 km/h), plus a fixed 30 s to get going. A real system would ask a routing engine; the
decision structure (rank by ETA, skip drivers who already passed on this trip) is the same.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dispatch.domain.geo import Point, haversine_m
from dispatch.domain.search import Nearby

DETOUR_FACTOR = 1.35
CITY_SPEED_M_S = 25_000 / 3600
STARTUP_S = 30.0


def eta_s(driver: Point, pickup: Point) -> float:
    return STARTUP_S + haversine_m(driver, pickup) * DETOUR_FACTOR / CITY_SPEED_M_S


@dataclass(frozen=True)
class Offer:
    driver_id: str
    eta_s: float


def rank_drivers(
    nearby: Sequence[Nearby], pickup: Point, excluded: Iterable[str] = ()
) -> list[Offer]:
    """Drivers best first (lowest ETA, then id for a stable order), without the excluded."""
    skip = set(excluded)
    offers = [Offer(n.driver_id, eta_s(n.point, pickup)) for n in nearby if n.driver_id not in skip]
    return sorted(offers, key=lambda offer: (offer.eta_s, offer.driver_id))
