"""The config plane's event as code: a change set in the envelope, and back."""

import pytest
from pydantic import ValidationError

from edge.domain.config import PURGE, ChangeSet
from edge.events import EVENTS, ConfigChanged
from stackkit.events import Event, UnknownEventType


def test_a_change_set_travels_keyed_config_with_its_version_time_and_entries() -> None:
    change = ChangeSet(7, 1700000000.25, {"route:shop": {"origins": ["http://a"]}, "x": None})
    event = EVENTS.event(ConfigChanged.of(change))
    assert (event.type, event.source, event.subject) == ("edge.config.changed", "edge", "config")
    assert event.data == {
        "version": 7,
        "written_at": 1700000000.25,
        "entries": {"route:shop": {"origins": ["http://a"]}, "x": None},
    }
    parsed = EVENTS.parse(Event.decode(event.encode()))
    assert isinstance(parsed, ConfigChanged)
    assert parsed.change_set() == change


def test_a_purge_comes_back_as_it_went() -> None:
    change = ChangeSet(1, 1.0, {PURGE: {"urls": ["/catalog/v1/titles/7"], "prefixes": []}})
    parsed = EVENTS.parse(EVENTS.event(ConfigChanged.of(change)))
    assert isinstance(parsed, ConfigChanged) and parsed.change_set() == change


def test_the_change_set_is_a_copy_the_replica_may_keep() -> None:
    changed = ConfigChanged(version=2, written_at=2.0, entries={"a": 1})
    first, second = changed.change_set(), changed.change_set()
    assert first == second and first.entries is not second.entries


def test_anything_but_a_change_set_is_refused() -> None:
    assert EVENTS.names == {"edge.config.changed"}
    with pytest.raises(UnknownEventType):
        EVENTS.parse(Event(type="edge.config.deleted", source="edge", subject="config"))
    with pytest.raises(ValidationError):
        EVENTS.parse(
            Event(type="edge.config.changed", source="edge", subject="config",
                  data={"version": "seven", "written_at": 1.0, "entries": {}})
        )  # fmt: skip
