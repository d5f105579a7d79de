"""Chat's pure logic: presence coalescing, fanout planning, Slack shapes."""

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from chat.domain.fanout import plan_deliveries
from chat.domain.presence import PresenceCoalescer
from chat.domain.slack import decode_cursor, encode_cursor, format_ts, new_id, parse_ts
from chat.gateway import parse_since, text_frame
from stackkit.errors import Invalid


def test_presence_changes_are_coalesced_per_flush() -> None:
    presence = PresenceCoalescer()
    for _ in range(5):
        presence.record("U1", "active")
        presence.record("U1", "away")
    presence.record("U1", "active")
    presence.record("U2", "away")  # was never active: nothing to say
    assert presence.drain() == {"U1": "active"}
    presence.record("U1", "active")
    assert presence.drain() == {}, "no change since the last flush"
    presence.record("U1", "away")
    assert presence.drain() == {"U1": "away"}


def test_fanout_groups_members_by_gateway() -> None:
    members = {f"U{i}" for i in range(10_000)}
    routes = {
        "gw-1": {f"U{i}" for i in range(0, 20_000, 2)},
        "gw-2": {"U1", "U3", "X9"},
        "gw-3": {"X1"},
    }
    plan = plan_deliveries(members, routes)
    assert set(plan) == {"gw-1", "gw-2"}, "a gateway with no member gets nothing"
    assert len(plan["gw-1"]) == 5000 and plan["gw-2"] == ["U1", "U3"]


def test_slack_timestamps_and_cursors_round_trip() -> None:
    assert format_ts(1_700_000_000_000_123) == "1700000000.000123"
    assert parse_ts("1700000000.000123", param="oldest") == 1_700_000_000_000_123
    assert parse_ts("1700000000", param="oldest") == 1_700_000_000_000_000
    assert parse_ts("1700000000.5", param="oldest") == 1_700_000_000_500_000
    for bad in ("", "abc", "1.2.3", "-5"):
        with pytest.raises(Invalid):
            parse_ts(bad, param="oldest")
    assert decode_cursor(encode_cursor("seq", 41), "seq") == "41"
    for bad in ("%%%", encode_cursor("user", "U1"), "c2VxOg=="):
        with pytest.raises(Invalid, match="invalid_cursor"):
            decode_cursor(bad, "seq")
    assert new_id("C")[0] == "C" and len(new_id("C")) == 11


@pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536, 200_000])
def test_a_prebuilt_frame_is_what_a_websocket_parser_reads(size: int) -> None:
    payload = ("x" * size).encode()
    reader = StreamReader()
    reader.feed_data(text_frame(payload))
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
        while True:
            parser.send(None)
    except StopIteration as done:
        frame = done.value
    assert frame.opcode is Opcode.TEXT and frame.fin and frame.data == payload


def test_since_keeps_what_parses_and_names_the_rest() -> None:
    assert parse_since("C1:41, C2:7,junk,C3:-1,:5") == (
        {"C1": 41, "C2": 7},
        ["junk", "C3:-1", ":5"],
    )
    assert parse_since("") == ({}, [])
    assert parse_since(f"C1:{2**63 - 1}") == ({"C1": 2**63 - 1}, [])


@pytest.mark.parametrize("seq", ["\u00b2", "\u0663", "1\u00b2", "9" * 5000, str(2**63), "+1", " 1"])
def test_since_refuses_seqs_a_bigint_cannot_hold(seq: str) -> None:
    """Unicode digits pass ``str.isdigit`` but not ``int``; 5,000 digits pass neither ``int``
    (its 4,300-digit limit) nor Postgres: all of them are malformed, none an exception."""
    since, malformed = parse_since(f"C1:{seq},C2:3")
    assert since == {"C2": 3} and len(malformed) == 1
