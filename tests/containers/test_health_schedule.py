"""The podman healthcheck ticker's schedule (pure): each container at its own interval."""

from devstack.containers.health import Due, next_due


def test_a_new_container_is_checked_at_once_then_every_interval() -> None:
    schedule: dict[str, Due] = {}
    assert next_due(schedule, {"a": 2.0, "b": 5.0}, now=100.0) == ["a", "b"]
    assert next_due(schedule, {"a": 2.0, "b": 5.0}, now=101.0) == []
    assert next_due(schedule, {"a": 2.0, "b": 5.0}, now=102.0) == ["a"]
    assert next_due(schedule, {"a": 2.0, "b": 5.0}, now=105.0) == ["a", "b"]


def test_a_container_that_is_gone_leaves_the_schedule() -> None:
    schedule: dict[str, Due] = {}
    next_due(schedule, {"a": 2.0, "b": 2.0}, now=0.0)
    assert next_due(schedule, {"b": 2.0}, now=2.0) == ["b"]
    assert set(schedule) == {"b"}
    assert next_due(schedule, {"a": 2.0, "b": 2.0}, now=3.0) == ["a"], "back: checked at once"
