"""The chaos monkey's schedule: a function of its seed, within its intensity's limits."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadtests.chaos.schedule import (
    INTENSITIES,
    QUIET_END_S,
    QUIET_START_S,
    RECOVERY_S,
    Action,
    ActionKind,
    Target,
    failover_windows,
    inside,
    plan,
)

TARGETS = (
    Target("catalog", (ActionKind.KILL,)),
    Target("redis", (ActionKind.PAUSE,)),
    Target("postgres", (ActionKind.KILL, ActionKind.PAUSE)),
    Target("fault.origin", (ActionKind.FLAG,), ("slow", "flaky")),
)


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another() -> None:
    first = plan(7, 600, INTENSITIES["default"], TARGETS)
    assert first == plan(7, 600, INTENSITIES["default"], TARGETS)
    assert first != plan(8, 600, INTENSITIES["default"], TARGETS)
    assert len(first) > 10, "ten minutes at default intensity strike often"


def test_intensity_sets_how_often() -> None:
    small = plan(1, 600, INTENSITIES["small"], TARGETS)
    high = plan(1, 600, INTENSITIES["high"], TARGETS)
    assert 0 < len(small) < len(high)


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    duration=st.floats(20, 1200),
    name=st.sampled_from(sorted(INTENSITIES)),
)
def test_limits_hold_for_every_seed(seed: int, duration: float, name: str) -> None:
    intensity = INTENSITIES[name]
    actions = plan(seed, duration, intensity, TARGETS)
    assert actions == sorted(actions, key=lambda a: a.at_s)
    for action in actions:
        assert action.at_s >= QUIET_START_S and action.ends_s <= duration - QUIET_END_S
        target = next(t for t in TARGETS if t.name == action.target)
        assert action.kind in target.kinds
        assert (action.variant in target.variants) if action.kind is ActionKind.FLAG else (
            action.variant == "")  # fmt: skip
        assert (action.hold_s == 0) == (action.kind is ActionKind.KILL)
    for action in actions:
        busy = [
            a for a in actions
            if a.at_s <= action.at_s < a.ends_s + (RECOVERY_S if a.kind is ActionKind.KILL else 0)
        ]  # fmt: skip
        assert len(busy) <= intensity.most_at_once
        assert len({a.target for a in busy}) == len(busy), "two faults on one target at once"


def test_a_run_too_short_for_its_quiet_margins_has_no_faults() -> None:
    assert plan(3, QUIET_START_S + QUIET_END_S, INTENSITIES["high"], TARGETS) == []


def test_no_targets_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one target"):
        plan(1, 60, INTENSITIES["small"], ())


def test_windows_merge_where_faults_and_recoveries_overlap() -> None:
    actions = [
        Action(10, ActionKind.PAUSE, "redis", hold_s=2),
        Action(15, ActionKind.KILL, "catalog"),
        Action(60, ActionKind.FLAG, "fault.origin", hold_s=3, variant="slow"),
    ]
    windows = failover_windows(actions)
    assert windows == [(10, 15 + RECOVERY_S), (60, 63 + RECOVERY_S)]
    assert inside(windows, 12) and inside(windows, 60) and not inside(windows, 50)


def test_actions_describe_themselves() -> None:
    assert Action(1, ActionKind.KILL, "chat").describe() == "kill chat"
    assert Action(1, ActionKind.PAUSE, "redis", hold_s=2.5).describe() == "pause redis for 2.5s"
    flag = Action(1, ActionKind.FLAG, "fault.redis", hold_s=3, variant="down")
    assert flag.as_dict()["description"] == "fault.redis=down for 3.0s"
    assert flag.as_dict()["kind"] == "flag"
