"""Which of the look-aside cache's zones serve a lookup: the EVCache decision the
``catalog.cache`` switch turns off, and the zones an outage takes away. Pure: the adapter
(``catalog.evcache``) reads the flags and talks to Redis."""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum


class CacheMode(StrEnum):
    """The ``catalog.cache`` switch's choices (its flagd variants)."""

    TWO_ZONES = "two_zones"
    """Today's: fills go to every zone, reads to the local one and then the others."""
    ONE_ZONE = "one_zone"
    """The local zone only: nothing replicated, nothing to fall back to."""
    OFF = "off"
    """No cache at all: every read is a Cassandra read."""


@dataclass(frozen=True)
class CachePolicy:
    """What is in force for one lookup: the mode and the zones that answer nothing."""

    mode: CacheMode = CacheMode.TWO_ZONES
    down: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ZonePlan:
    use: tuple[str, ...]
    """The zones a read tries, local first, and a fill writes."""
    unavailable: tuple[str, ...]
    """Zones the mode would use that are down: counted as such, never asked."""


def plan_zones(policy: CachePolicy, zones: Sequence[str]) -> ZonePlan:
    """The zones (named, local first) one lookup uses under ``policy``."""
    if policy.mode is CacheMode.OFF:
        wanted: Sequence[str] = ()
    elif policy.mode is CacheMode.ONE_ZONE:
        wanted = zones[:1]
    else:
        wanted = zones
    return ZonePlan(
        use=tuple(zone for zone in wanted if zone not in policy.down),
        unavailable=tuple(zone for zone in wanted if zone in policy.down),
    )


def invalidated_zones(policy: CachePolicy, zones: Collection[str]) -> tuple[str, ...]:
    """The zones a write invalidates: every zone that answers, whatever the mode, so that a
    zone the mode leaves out serves nothing stale once the mode changes back. A zone that is
    down misses it, as a real outage does (its copy lives until the TTL)."""
    return tuple(zone for zone in zones if zone not in policy.down)
