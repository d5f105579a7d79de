"""Which zones a lookup uses under the ``catalog.cache`` switch and a zone outage."""

import pytest

from catalog.domain.cache_zones import (
    CacheMode,
    CachePolicy,
    ZonePlan,
    invalidated_zones,
    plan_zones,
)
from stackkit.flag_catalog import SPECS_BY_KEY

ZONES = ("a", "b")


def test_the_modes_are_the_switch_s_choices_and_today_is_the_default() -> None:
    spec = SPECS_BY_KEY["catalog.cache"]
    assert tuple(CacheMode) == spec.choices
    assert CachePolicy().mode == spec.default


@pytest.mark.parametrize(
    ("mode", "down", "use", "unavailable"),
    [
        (CacheMode.TWO_ZONES, set(), ("a", "b"), ()),
        (CacheMode.TWO_ZONES, {"a"}, ("b",), ("a",)),
        (CacheMode.TWO_ZONES, {"a", "b"}, (), ("a", "b")),
        (CacheMode.ONE_ZONE, set(), ("a",), ()),
        (CacheMode.ONE_ZONE, {"a"}, (), ("a",)),
        (CacheMode.ONE_ZONE, {"b"}, ("a",), ()),
        (CacheMode.OFF, set(), (), ()),
        (CacheMode.OFF, {"a"}, (), ()),
    ],
)
def test_a_lookup_uses_the_mode_s_zones_that_answer_local_first(
    mode: CacheMode, down: set[str], use: tuple[str, ...], unavailable: tuple[str, ...]
) -> None:
    plan = plan_zones(CachePolicy(mode, frozenset(down)), ZONES)
    assert plan == ZonePlan(use=use, unavailable=unavailable)


@pytest.mark.parametrize("mode", list(CacheMode))
def test_writes_invalidate_every_zone_that_answers_whatever_the_mode(mode: CacheMode) -> None:
    assert invalidated_zones(CachePolicy(mode), ZONES) == ZONES
    assert invalidated_zones(CachePolicy(mode, frozenset({"a"})), ZONES) == ("b",)
