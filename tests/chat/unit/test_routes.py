"""The ``+<gateway> <user>`` announcements: one class writes and reads them, and the fanout's
table follows them."""

import pytest
import redis.asyncio as aioredis

from chat.routes import RouteChange, RouteTable


@pytest.mark.parametrize(
    ("change", "wire"),
    [
        (RouteChange(True, "chat-gateway", "U1"), "+chat-gateway U1"),
        (RouteChange(False, "chat-gateway-2", "U2"), "-chat-gateway-2 U2"),
    ],
)
def test_a_route_change_has_one_spelling(change: RouteChange, wire: str) -> None:
    assert change.encode() == wire
    assert RouteChange.decode(wire) == change


@pytest.mark.parametrize("raw", ["", "U1", "*gw U1", " gw U1"])
def test_anything_but_an_announcement_decodes_to_none(raw: str) -> None:
    assert RouteChange.decode(raw) is None


def test_a_user_without_a_separator_decodes_as_before() -> None:
    """Only our gateways publish on ``chat:routes``; an odd one stays as lenient as ever."""
    assert RouteChange.decode("+gw") == RouteChange(True, "gw", "")
    assert RouteChange.decode("-gw a b") == RouteChange(False, "gw", "a b")


def _table() -> RouteTable:
    return RouteTable(aioredis.Redis())  # never connects: only apply() is exercised


def test_the_fanouts_table_follows_announcements() -> None:
    table = _table()
    for change in [RouteChange(True, "gw-1", "U1"), RouteChange(True, "gw-1", "U2"),
                   RouteChange(True, "gw-2", "U1"), RouteChange(False, "gw-1", "U1")]:  # fmt: skip
        table.apply(change.encode())
    assert table.users_by_gateway == {"gw-1": {"U2"}, "gw-2": {"U1"}}
    assert table.gateways_of("U1") == ["gw-2"]
    assert sorted(table.gateways_of("U2")) == ["gw-1"]


def test_the_table_ignores_junk_and_withdrawals_of_unknown_routes() -> None:
    table = _table()
    table.apply("junk")
    table.apply(RouteChange(False, "gw-9", "U1").encode())
    assert table.users_by_gateway == {}
