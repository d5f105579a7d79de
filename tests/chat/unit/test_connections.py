"""The connections a gateway holds: a user's first and last connection are what its route
announcements hang on."""

from typing import cast

from websockets.asyncio.server import ServerConnection

from chat.domain.token_bucket import TokenBucket
from chat.gateway.connection import Client, Connections
from chat.store import User


def _client(user: str) -> Client:
    return Client(cast(ServerConnection, object()), User(user, user.lower()), "xoxp-t",
                  bucket=TokenBucket.for_rate(20.0, now=0.0))  # fmt: skip


def test_first_and_last_connection_of_each_user() -> None:
    connections = Connections()
    ada_1, ada_2, bob = _client("UADA"), _client("UADA"), _client("UBOB")
    assert connections.add(ada_1) is True
    assert connections.add(ada_2) is False, "Ada's second connection"
    assert connections.add(bob) is True
    assert len(connections) == 3 and set(connections.users()) == {"UADA", "UBOB"}
    assert set(connections.of_user("UADA")) == {ada_1, ada_2}
    assert connections.remove(ada_1) is False, "Ada is still connected"
    assert connections.remove(ada_2) is True
    assert set(connections.users()) == {"UBOB"} and connections.of_user("UADA") == ()
    assert connections.snapshot() == [bob]


def test_removing_twice_or_a_stranger_leaves_the_rest_alone() -> None:
    connections = Connections()
    ada, bob = _client("UADA"), _client("UBOB")
    connections.add(ada)
    assert connections.remove(bob) is True, "nobody else of Bob's was here"
    assert connections.remove(ada) is True
    assert connections.remove(ada) is True
    assert len(connections) == 0 and not connections.users()


def test_a_snapshot_stays_put_while_connections_come_and_go() -> None:
    connections = Connections()
    first = _client("U1")
    connections.add(first)
    snapshot = connections.snapshot()
    connections.add(_client("U2"))
    connections.remove(first)
    assert snapshot == [first]


def test_clients_are_distinct_even_for_one_user() -> None:
    """``eq=False``: two sockets of one user are two entries, never merged in a set."""
    one, two = _client("U1"), _client("U1")
    assert one != two and len({one, two}) == 2 and one.id != two.id
