"""A worker's share of the ring as arcs of hashes, which membership changes move it, and how a
trip decision's end is named: the pure parts of dispatch's decision metrics."""

import random

import pytest

from dispatch.domain.ownership import HashRing, RingChange, _hash, ownership_changes
from dispatch.domain.trips import DecisionOutcome, TripStatus, decision_outcome


def owns_the_same_keys(a: HashRing, b: HashRing, member: str, keys: list[str]) -> bool:
    return all((a.owner(k) == member) == (b.owner(k) == member) for k in keys)


def test_arcs_say_exactly_which_keys_a_member_owns() -> None:
    rng = random.Random(3)
    keys = [f"area-{rng.random()}" for _ in range(3000)]
    ring = HashRing({"a", "b", "c"}, virtual_nodes=8)
    for member in ("a", "b", "c"):
        arcs = ring.arcs_of(member)
        assert arcs, member

        def inside(h: int, arcs: frozenset[tuple[int, int]] = arcs) -> bool:
            return any(s <= h < e if s < e else (h >= s or h < e) for s, e in arcs)

        assert all(inside(_hash(k)) == (ring.owner(k) == member) for k in keys), member


def test_arcs_of_a_lone_member_and_of_a_stranger() -> None:
    assert HashRing({"a"}).arcs_of("a") == frozenset({(0, 0)})
    assert HashRing({"a", "b"}).arcs_of("z") == frozenset()
    assert HashRing(set()).arcs_of("a") == frozenset()


def test_arcs_are_equal_exactly_when_the_owned_keys_are() -> None:
    keys = [f"k{i}" for i in range(2000)]
    two, three = HashRing({"a", "b"}), HashRing({"a", "b", "c"})
    assert two.arcs_of("a") == HashRing({"b", "a"}).arcs_of("a")
    assert two.arcs_of("a") != three.arcs_of("a")
    assert not owns_the_same_keys(two, three, "a", keys)


def test_a_first_ring_is_one_join_whoever_was_there() -> None:
    changes = ownership_changes(frozenset(), frozenset({"me", "b", "c"}), frozenset(), "me")
    assert list(changes) == [RingChange.JOINED]


@pytest.mark.parametrize(
    ("before", "after", "expired", "expected"),
    [
        ({"me", "b"}, {"me", "b", "c"}, set(), [RingChange.JOINED]),
        ({"me", "b"}, {"me"}, set(), [RingChange.LEFT]),
        ({"me", "b"}, {"me"}, {"b"}, [RingChange.EXPIRED]),
        ({"me", "b"}, {"me", "c"}, {"b"}, [RingChange.EXPIRED, RingChange.JOINED]),
        ({"me", "b"}, {"me", "b"}, set(), []),
    ],
)
def test_each_ring_change_that_moves_my_areas_is_named(
    before: set[str], after: set[str], expired: set[str], expected: list[RingChange]
) -> None:
    got = ownership_changes(frozenset(before), frozenset(after), frozenset(expired), "me")
    assert list(got) == expected


def test_a_change_that_moves_none_of_my_areas_is_not_counted() -> None:
    # With one point each, some third member lands where it takes only from the other one.
    stranger = next(
        f"w{i}"
        for i in range(1000)
        if HashRing({"me", "b"}, 1).arcs_of("me") == HashRing({"me", "b", f"w{i}"}, 1).arcs_of("me")
    )
    before, after = frozenset({"me", "b"}), frozenset({"me", "b", stranger})
    assert list(ownership_changes(before, after, frozenset(), "me", virtual_nodes=1)) == []
    assert list(ownership_changes(before, after, frozenset(), "b", virtual_nodes=1)) == [
        RingChange.JOINED
    ]


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (TripStatus.DISPATCHING, DecisionOutcome.OFFERED),
        (TripStatus.ACCEPTED, DecisionOutcome.OFFERED),
        (TripStatus.NO_DRIVERS, DecisionOutcome.NO_DRIVER),
        (TripStatus.CANCELED, DecisionOutcome.CANCELED),
        (TripStatus.REQUESTED, DecisionOutcome.ERROR),
        (None, DecisionOutcome.ERROR),
    ],
)
def test_a_decision_is_named_by_the_status_it_left(
    status: TripStatus | None, outcome: DecisionOutcome
) -> None:
    assert decision_outcome(status) == outcome
