"""Trips, matching, ownership and surge: the dispatch decisions as plain code."""

import itertools
import random
from collections import Counter

import pytest

from dispatch.domain.geo import Point
from dispatch.domain.matching import eta_s, rank_drivers
from dispatch.domain.ownership import HashRing, area_of
from dispatch.domain.search import Nearby
from dispatch.domain.surge import MAX_MULTIPLIER, quote, surge_level, surge_multiplier
from dispatch.domain.trips import (
    HOLDS_DRIVER,
    TRIP_LIFECYCLE,
    TRIP_TRANSITIONS,
    IllegalTripTransition,
    TripAction,
    TripStatus,
)

# -- trips -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        [
            TripAction.DISPATCH,
            TripAction.OFFER_NEXT,
            TripAction.ACCEPT,
            TripAction.ARRIVE,
            TripAction.START,
            TripAction.COMPLETE,
        ],
        [TripAction.DISPATCH, TripAction.OFFER_NEXT, TripAction.EXHAUST],
        [TripAction.DISPATCH, TripAction.ACCEPT, TripAction.CANCEL],
        [TripAction.CANCEL],
    ],
)
def test_trip_lifecycles(path: list[TripAction]) -> None:
    status = TripStatus.REQUESTED
    for action in path:
        status = TRIP_LIFECYCLE.next(status, action)
    assert TRIP_LIFECYCLE.terminal(status)


@pytest.mark.parametrize(("status", "action"), list(itertools.product(TripStatus, TripAction)))
def test_every_trip_move_is_decided(status: TripStatus, action: TripAction) -> None:
    if (status, action) in TRIP_TRANSITIONS:
        assert TRIP_LIFECYCLE.next(status, action) == TRIP_TRANSITIONS[(status, action)]
    else:
        with pytest.raises(IllegalTripTransition, match=status.value):
            TRIP_LIFECYCLE.next(status, action)


def test_a_driver_is_held_only_between_accept_and_completion() -> None:
    assert {TripStatus.ACCEPTED, TripStatus.ARRIVED, TripStatus.IN_PROGRESS} == HOLDS_DRIVER
    assert all(
        TRIP_LIFECYCLE.terminal(s)
        for s in (TripStatus.COMPLETED, TripStatus.CANCELED, TripStatus.NO_DRIVERS)
    )


# -- matching ----------------------------------------------------------------------------------


def test_drivers_are_ranked_by_eta_and_decliners_skipped() -> None:
    pickup = Point(52.52, 13.405)
    near = Nearby("near", Point(52.521, 13.405), 111)
    far = Nearby("far", Point(52.53, 13.405), 1112)
    tie = Nearby("a-tie", Point(52.521, 13.405), 111)
    assert [o.driver_id for o in rank_drivers([far, near, tie], pickup)] == ["a-tie", "near", "far"]
    assert [o.driver_id for o in rank_drivers([far, near], pickup, excluded={"near"})] == ["far"]
    assert eta_s(pickup, pickup) == 30.0
    assert 190 < eta_s(Point(52.53, 13.405), pickup) < 250


# -- ownership ---------------------------------------------------------------------------------


def test_the_ring_spreads_areas_and_moves_few_when_a_worker_dies() -> None:
    rng = random.Random(3)
    areas = [area_of(Point(rng.uniform(40, 60), rng.uniform(-10, 30))) for _ in range(2000)]
    three = HashRing(["w1", "w2", "w3"])
    owners = {area: three.owner(area) for area in areas}
    shares = Counter(owners.values())
    assert all(count > len(set(areas)) * 0.2 for count in shares.values()), shares
    two = HashRing(["w1", "w3"])
    moved = [a for a in owners if owners[a] != two.owner(a)]
    assert all(owners[a] == "w2" for a in moved), "only the dead worker's areas move"
    assert {two.owner(a) for a in moved} <= {"w1", "w3"}


def test_an_empty_ring_has_no_owner() -> None:
    with pytest.raises(LookupError):
        HashRing([]).owner("anything")


# -- surge -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requests", "available", "previous", "expected"),
    [
        (0, 10, 1.0, 1.0),
        (10, 10, 1.0, 1.0),
        (30, 10, 1.0, 1.3),
        (30, 10, 2.0, 2.0),
        (1000, 0, 3.0, MAX_MULTIPLIER),
        (5, 0, 1.0, 1.6),
    ],
)
def test_surge_is_smoothed_and_capped(
    requests: int, available: int, previous: float, expected: float
) -> None:
    assert surge_multiplier(surge_level(requests, available, previous)) == pytest.approx(expected)


def test_surge_never_drops_below_one_and_settles() -> None:
    level = 3.0
    for _ in range(30):
        level = surge_level(0, 50, level)
    assert surge_multiplier(level) == 1.0


def test_a_sustained_shortage_climbs_to_the_cap() -> None:
    level = 1.0
    for _ in range(40):
        level = surge_level(100, 10, level)
    assert surge_multiplier(level) == MAX_MULTIPLIER


def test_a_quote_scales_with_distance_and_multiplier() -> None:
    a, b = Point(52.52, 13.405), Point(52.50, 13.45)
    plain, surged = quote(a, b, 1.0), quote(a, b, 2.0)
    assert surged.amount == pytest.approx(plain.amount * 2, abs=1)
    assert quote(a, a, 1.0).amount == 700, "the minimum fare"
    assert plain.distance_m > 3000
