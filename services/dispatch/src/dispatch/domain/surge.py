"""Surge per area: a multiplier from recent demand and supply, smoothed and capped.

``raw = 1 + SENSITIVITY * (requests / max(available drivers, 1) - 1)`` when demand exceeds
supply (never below 1), then an exponential moving average with the previous level so prices
do not jump on one burst, capped at ``MAX_MULTIPLIER``; riders see it rounded to 0.1.
"""

from dataclasses import dataclass

from dispatch.domain.geo import Point, haversine_m
from dispatch.domain.matching import CITY_SPEED_M_S, DETOUR_FACTOR

SENSITIVITY = 0.5
SMOOTHING = 0.3
MAX_MULTIPLIER = 3.0
SURGE_RESOLUTION = 7  # about 5 km² a cell: a neighbourhood


def surge_level(requests: int, available: int, previous: float = 1.0) -> float:
    """The smoothed, capped level to keep between windows (unrounded, so it can settle)."""
    ratio = requests / max(available, 1)
    raw = max(1.0, 1.0 + SENSITIVITY * (ratio - 1.0))
    return min(MAX_MULTIPLIER, SMOOTHING * raw + (1 - SMOOTHING) * previous)


def surge_multiplier(level: float) -> float:
    """What riders are quoted: the level to one decimal, 1.0 when within a rounding of none."""
    return max(1.0, round(level, 1))


@dataclass(frozen=True)
class Fare:
    base: int = 250  # minor units
    per_km: int = 120
    per_minute: int = 30
    minimum: int = 700


@dataclass(frozen=True)
class Quote:
    distance_m: float
    duration_s: float
    multiplier: float
    amount: int  # minor units


def quote(pickup: Point, dropoff: Point, multiplier: float, fare: Fare = Fare()) -> Quote:
    distance = haversine_m(pickup, dropoff) * DETOUR_FACTOR
    duration = distance / CITY_SPEED_M_S
    before_surge = fare.base + fare.per_km * distance / 1000 + fare.per_minute * duration / 60
    amount = max(fare.minimum, round(before_surge * multiplier))
    return Quote(round(distance, 1), round(duration, 1), multiplier, amount)
