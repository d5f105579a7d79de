"""Chat's pure logic: delivery order, presence coalescing, fanout planning, Slack shapes."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from chat.domain.delivery import ChannelCursor, Decision
from chat.domain.fanout import plan_deliveries
from chat.domain.presence import PresenceCoalescer
from chat.domain.slack import decode_cursor, encode_cursor, format_ts, new_id, parse_ts
from chat.gateway import parse_since, text_frame
from stackkit.errors import Invalid


def simulate(start: int, arrivals: list[int], stored_up_to: int) -> list[int]:
    """Feed ``arrivals`` to a cursor; gap fetches read 'storage' (every seq up to
    ``stored_up_to``) at once. Returns the seqs the client was sent, in order."""
    cursor = ChannelCursor(delivered=start)
    sent: list[int] = []

    def offer(seq: int) -> None:
        decision = cursor.offer(seq)
        if decision is Decision.SEND:
            sent.append(seq)
        elif decision is Decision.FETCH_GAP:
            fetched = range(cursor.delivered + 1, stored_up_to + 1)
            sent.extend(cursor.fetched(list(fetched)))
            for held in cursor.release():
                offer(held)

    for seq in arrivals:
        offer(seq)
    return sent


@given(st.integers(0, 20), st.integers(0, 40), st.randoms(use_true_random=False))
def test_any_arrival_order_with_duplicates_is_delivered_in_order_without_gaps(
    start: int, count: int, rng: random.Random
) -> None:
    last = start + count
    arrivals = list(range(1, last + 1)) * 2  # everything, twice, including what the client had
    rng.shuffle(arrivals)
    sent = simulate(start, arrivals, stored_up_to=last)
    assert sent == list(range(start + 1, last + 1))


def test_live_messages_wait_while_a_gap_is_fetched() -> None:
    cursor = ChannelCursor(delivered=3)
    assert cursor.offer(6) is Decision.FETCH_GAP
    assert cursor.offer(7) is Decision.WAIT
    assert cursor.offer(2) is Decision.DROP
    assert cursor.fetched([4, 5, 6, 9]) == [4, 5, 6], "9 is not contiguous yet"
    assert cursor.release() == [6, 7]
    assert cursor.offer(6) is Decision.DROP and cursor.offer(7) is Decision.SEND
    assert cursor.pending is None and cursor.delivered == 7


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


def test_since_is_parsed_leniently() -> None:
    assert parse_since("C1:41, C2:7,junk,C3:-1,:5") == {"C1": 41, "C2": 7}
    assert parse_since("") == {}
