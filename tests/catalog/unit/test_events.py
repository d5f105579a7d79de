"""The catalog's play events as code: the wire format of each kind, and back to the model."""

from datetime import UTC, datetime
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from catalog.events import EVENTS, Play, PlayKind
from stackkit.events import Event, UnknownEventType

REPORTED: dict[str, Any] = {
    "profile_id": "p1",
    "title_id": "t-7",
    "kind": "start",
    "position_s": 0,
    "region": "eu",
    "isp": "telco-eu-1",
    "at": "2026-01-01T20:15:00Z",
}


@pytest.mark.parametrize("kind", get_args(PlayKind))
def test_each_kind_travels_as_its_own_type_keyed_by_profile(kind: str) -> None:
    play = Play.model_validate({**REPORTED, "kind": kind})
    event = EVENTS.event(play)
    assert (event.type, event.source, event.subject) == (f"catalog.play.{kind}", "catalog", "p1")
    assert event.data == {**REPORTED, "kind": kind, "at": "2026-01-01T20:15:00Z"}
    assert EVENTS.parse(Event.decode(event.encode())) == play


def test_a_play_without_an_isp_sends_it_as_null() -> None:
    play = Play.model_validate({k: v for k, v in REPORTED.items() if k != "isp"})
    assert EVENTS.event(play).data["isp"] is None
    assert play.at == datetime(2026, 1, 1, 20, 15, tzinfo=UTC)


def test_the_declared_types_are_one_per_kind() -> None:
    assert EVENTS.names == {"catalog.play.start", "catalog.play.progress", "catalog.play.stop"}


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "pause"},
        {"profile_id": "bad id!"},
        {"position_s": -1},
        {"position_s": 86_401},
        {"region": ""},
        {"isp": ""},
        {"speed": 3},  # nothing a player did not mean to send
    ],
)
def test_a_malformed_play_is_refused_as_input_and_as_an_event(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Play.model_validate({**REPORTED, **change})
    with pytest.raises(ValidationError):
        EVENTS.parse(
            Event(type="catalog.play.start", source="catalog", subject="p1",
                  data={**REPORTED, **change})
        )  # fmt: skip


def test_an_undeclared_type_on_the_topic_is_refused() -> None:
    with pytest.raises(UnknownEventType):
        EVENTS.parse(
            Event(type="catalog.play.pause", source="catalog", subject="p1", data=REPORTED)
        )
