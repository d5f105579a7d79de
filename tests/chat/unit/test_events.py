"""Chat's events as code: the kinds it declares, their envelopes on the wire, and that nothing
outside ``chat/events.py`` spells an event type."""

import re
from pathlib import Path

import orjson
import pytest
from pydantic import ValidationError

import chat
from chat.events import (
    EVENTS,
    MESSAGES,
    TOPICS,
    MemberJoined,
    MemberLeft,
    MembershipChanged,
    MessagePosted,
)
from chat.store import Message
from stackkit.events import Event, EventData, UnknownEventType


def _posted(client_msg_id: str | None = None) -> MessagePosted:
    return MessagePosted(channel="C1", user="U1", text="hi", ts="1700000000.000123", seq=41,
                         client_msg_id=client_msg_id)  # fmt: skip


def test_chat_publishes_three_kinds_on_one_topic() -> None:
    assert EVENTS.source == "chat"
    assert EVENTS.names == {"chat.message", "chat.member_joined", "chat.member_left"}
    assert MESSAGES.name == "chat.messages" and TOPICS == [MESSAGES]


def test_a_posted_message_keeps_its_wire_shape_key_for_key() -> None:
    """The gateways write this data to sockets as it is: same keys, same order as ever."""
    event = EVENTS.event(_posted("m-1"))
    assert (event.type, event.source, event.subject) == ("chat.message", "chat", "C1")
    assert list(event.data.items()) == [
        ("type", "message"), ("channel", "C1"), ("user", "U1"), ("text", "hi"),
        ("ts", "1700000000.000123"), ("seq", 41), ("client_msg_id", "m-1"),
    ]  # fmt: skip


def test_a_message_without_client_msg_id_leaves_the_key_out() -> None:
    event = EVENTS.event(_posted())
    assert "client_msg_id" not in event.data
    assert b"client_msg_id" not in event.encode()
    assert _posted().model_dump(mode="json") == {"type": "message", "channel": "C1",
        "user": "U1", "text": "hi", "ts": "1700000000.000123", "seq": 41}  # fmt: skip


@pytest.mark.parametrize("client_msg_id", [None, "", "m-1"])
def test_a_stored_message_is_the_event_the_fanout_and_the_replay_send(
    client_msg_id: str | None,
) -> None:
    message = Message("C1", 41, 1_700_000_000_000_123, "U1", "hi", client_msg_id)
    data = message.as_event().model_dump(mode="json")
    assert data == {"channel": "C1", **message.as_slack()}
    assert list(data)[:2] == ["type", "channel"]


@pytest.mark.parametrize(
    ("data", "type_"),
    [
        (MemberJoined(channel="C1", user="U2", last_seq=7), "chat.member_joined"),
        (MemberLeft(channel="C1", user="U2", last_seq=7), "chat.member_left"),
    ],
)
def test_membership_changes_travel_keyed_by_channel(data: MembershipChanged, type_: str) -> None:
    event = EVENTS.event(data)
    assert (event.type, event.subject) == (type_, "C1")
    assert list(event.data.items()) == [("channel", "C1"), ("user", "U2"), ("last_seq", 7)]


@pytest.mark.parametrize(
    "data",
    [
        _posted(),
        _posted("m-1"),
        MemberJoined(channel="C1", user="U2", last_seq=0),
        MemberLeft(channel="C1", user="U2", last_seq=9),
    ],
)
def test_each_kind_comes_back_as_its_class(data: EventData) -> None:
    parsed = EVENTS.parse(Event.decode(EVENTS.event(data).encode()))
    assert type(parsed) is type(data) and parsed == data


def test_an_envelope_from_before_typed_events_still_parses() -> None:
    """What the outbox may still hold from the previous release, built by hand."""
    raw = orjson.dumps({"specversion": "1.0", "id": "evt_old", "type": "chat.member_left",
        "source": "chat", "subject": "C1", "time": "2025-01-01T00:00:00Z",
        "data": {"channel": "C1", "user": "U2", "last_seq": 3}})  # fmt: skip
    assert EVENTS.parse(Event.decode(raw)) == MemberLeft(channel="C1", user="U2", last_seq=3)


def test_unknown_or_malformed_events_are_value_errors() -> None:
    with pytest.raises(UnknownEventType):
        EVENTS.parse(Event(type="chat.reaction_added", source="chat", subject="C1"))
    with pytest.raises(ValidationError):
        EVENTS.parse(Event(type="chat.member_joined", source="chat", subject="C1",
                           data={"channel": "C1", "user": "U2"}))  # fmt: skip
    with pytest.raises(ValidationError):
        EVENTS.parse(Event(type="chat.message", source="chat", subject="C1",
                           data={**_posted().model_dump(), "type": "reaction"}))  # fmt: skip


# A quoted type, or the start of one built by formatting (``f"chat.member_{change}"``).
_EVENT_TYPE_LITERAL = re.compile(r"""["'](chat\.message["']|chat\.member_)""")


def test_no_event_type_is_spelled_outside_events_py() -> None:
    """Producers build envelopes through ``EVENTS``; consumers dispatch on the class."""
    package = Path(chat.__file__).parent
    assert all(_EVENT_TYPE_LITERAL.match(f'"{name}"') for name in EVENTS.names)
    offenders = [
        f"{path.relative_to(package)}: {found.group()}"
        for path in sorted(package.rglob("*.py"))
        if path != package / "events.py"
        for found in _EVENT_TYPE_LITERAL.finditer(path.read_text())
    ]
    assert offenders == []
