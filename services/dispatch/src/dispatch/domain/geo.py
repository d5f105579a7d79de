"""Points on the sphere: validation and great-circle distance."""

import math
from dataclasses import dataclass

from stackkit.errors import Invalid

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG), the one H3 uses


@dataclass(frozen=True, slots=True)
class Point:
    lat: float
    lng: float


def validate_point(lat: float, lng: float, *, param: str = "") -> Point:
    """A point with finite coordinates in range; anything else is a 400 naming the field."""
    prefix = f"{param}." if param else ""
    for name, value, limit in (("lat", lat, 90.0), ("lng", lng, 180.0)):
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            raise Invalid(f"{prefix}{name} must be a finite number", param=f"{prefix}{name}")
        if not -limit <= value <= limit:
            raise Invalid(
                f"{prefix}{name} must be between -{limit:g} and {limit:g}", param=f"{prefix}{name}"
            )
    return Point(float(lat), float(lng))


def haversine_m(a: Point, b: Point) -> float:
    """Great-circle distance in metres."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlng = math.radians(b.lng - a.lng)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlng / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))
