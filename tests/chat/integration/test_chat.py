"""Chat over the native stack, judged by real clients: ``slack_sdk`` for the Web API and plain
``websockets`` clients on both gateways."""

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from devstack.stack import NativeStack
from tests.waiting import eventually

pytestmark = pytest.mark.e2e
GATEWAYS = ("chat-gateway", "chat-gateway-2")


class Person:
    def __init__(self, stack: NativeStack, name: str) -> None:
        api = f"{stack.edge_url}/chat"  # the Web API through the edge, as users reach it
        created = httpx.post(f"{api}/dev/users", json={"name": f"{name}-{uuid.uuid4().hex[:6]}"})
        created.raise_for_status()
        self.id: str = created.json()["id"]
        self.token: str = created.json()["token"]
        self.web = WebClient(token=self.token, base_url=f"{api}/api/")
        self.stack = stack

    def socket(self, gateway: str = "chat-gateway", since: str = "") -> Any:
        url = self.stack.url(gateway).replace("http://", "ws://")
        return connect(f"{url}/ws?token={self.token}&since={since}", max_size=2**22)


async def events(ws: ClientConnection, until: Callable[[list[dict[str, Any]]], bool],
                 timeout_s: float = 10) -> list[dict[str, Any]]:  # fmt: skip
    """Read events until ``until(all so far)`` holds."""
    seen: list[dict[str, Any]] = []

    async def read() -> None:
        while not until(seen):
            seen.append(json.loads(await ws.recv()))

    try:
        await asyncio.wait_for(read(), timeout_s)
    except TimeoutError as error:
        raise AssertionError(f"timed out; got {seen[-10:]}") from error
    return seen


def messages(seen: list[dict[str, Any]], channel: str) -> list[dict[str, Any]]:
    return [e for e in seen if e.get("type") == "message" and e.get("channel") == channel]


def seqs(seen: list[dict[str, Any]], channel: str) -> list[int]:
    return [e["seq"] for e in messages(seen, channel)]


def test_the_gateway_serves_health_metrics_and_a_page_on_its_port(
    native_stack: NativeStack,
) -> None:
    for gateway in GATEWAYS:
        base = native_stack.url(gateway)
        assert httpx.get(f"{base}/readyz").status_code == 200
        assert "chat_gateway_connections" in httpx.get(f"{base}/metrics").text
        page = httpx.get(f"{base}/")
        assert page.status_code == 200 and "new WebSocket(" in page.text
        assert httpx.get(f"{base}/nope").status_code == 404


def test_the_command_line_client_sends_and_shows_messages(
    native_stack: NativeStack, team: tuple["Person", "Person", str]
) -> None:
    ada, bob, channel = team
    gateways = [arg for g in GATEWAYS
                for arg in ("--gateway", native_stack.url(g).replace("http://", "ws://"))]  # fmt: skip
    client = subprocess.Popen(
        [sys.executable, "-m", "chat.client", *gateways, "--token", bob.token, "--channel", channel],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert client.stdin is not None and client.stdout is not None
    try:
        assert client.stdout.readline().startswith("* connected to chat-gateway as")
        client.stdin.write("typed in a terminal\n")
        client.stdin.flush()
        assert client.stdout.readline().strip().endswith(f"{bob.id}: typed in a terminal")
        ada.web.chat_postMessage(channel=channel, text="answer")
        assert client.stdout.readline().strip().endswith(f"{ada.id}: answer")
    finally:
        client.kill()
        client.wait()


@pytest.fixture
def team(native_stack: NativeStack) -> tuple[Person, Person, str]:
    """Ada created a channel and Bob joined it."""
    ada, bob = Person(native_stack, "ada"), Person(native_stack, "bob")
    channel = ada.web.conversations_create(name=f"c-{uuid.uuid4().hex[:10]}")["channel"]["id"]
    bob.web.conversations_join(channel=channel)
    return ada, bob, channel


@asynccontextmanager
async def open_on(person: Person, gateway: str, since: str = "") -> AsyncIterator[ClientConnection]:
    async with person.socket(gateway, since) as ws:
        await events(ws, lambda seen: any(e["type"] == "hello" for e in seen))
        yield ws


# -- the Web API through slack_sdk --------------------------------------------------------------


def test_development_users_in_bulk_for_seeding(native_stack: NativeStack) -> None:
    api = f"{native_stack.edge_url}/chat"
    prefix = f"bulk-{uuid.uuid4().hex[:8]}"
    created = httpx.post(f"{api}/dev/users/batch", json={"prefix": prefix, "count": 3})
    assert created.status_code == 200, created.text
    users = created.json()["users"]
    assert [u["name"] for u in users] == [f"{prefix}-0", f"{prefix}-1", f"{prefix}-2"]
    for user in users:
        assert (
            WebClient(token=user["token"], base_url=f"{api}/api/").auth_test()["user_id"]
            == user["id"]
        )
    again = httpx.post(f"{api}/dev/users/batch", json={"prefix": prefix, "count": 5})
    assert again.status_code == 409  # one name taken: none created
    assert (
        httpx.post(f"{api}/dev/users/batch", json={"prefix": prefix, "count": 1001}).status_code
        == 400
    )


def test_the_web_api_works_with_slack_sdk(native_stack: NativeStack) -> None:
    ada, bob, eve = (Person(native_stack, n) for n in ("ada", "bob", "eve"))
    assert ada.web.auth_test()["user_id"] == ada.id
    name = f"general-{uuid.uuid4().hex[:8]}"
    channel = ada.web.conversations_create(name=name)["channel"]
    assert channel["name"] == name and channel["is_member"] and channel["num_members"] == 1
    with pytest.raises(SlackApiError) as taken:
        bob.web.conversations_create(name=name)
    assert taken.value.response["error"] == "name_taken"

    assert ada.web.conversations_invite(channel=channel["id"], users=bob.id)["ok"]
    with pytest.raises(SlackApiError) as outsider:
        eve.web.chat_postMessage(channel=channel["id"], text="let me in")
    assert outsider.value.response["error"] == "not_in_channel"
    with pytest.raises(SlackApiError) as reading:
        eve.web.conversations_history(channel=channel["id"])
    assert reading.value.response["error"] == "not_in_channel"
    eve.web.conversations_join(channel=channel["id"])

    members: list[str] = []
    for page in ada.web.conversations_members(channel=channel["id"], limit=2):
        members += page["members"]
    assert sorted(members) == sorted([ada.id, bob.id, eve.id])

    posted = [ada.web.chat_postMessage(channel=channel["id"], text=f"m{n}") for n in range(7)]
    assert [p["message"]["seq"] for p in posted] == list(range(1, 8))
    history: list[dict[str, Any]] = []
    for page in bob.web.conversations_history(channel=channel["id"], limit=3):
        history += page["messages"]
    assert [m["text"] for m in history] == [f"m{n}" for n in reversed(range(7))]
    window = bob.web.conversations_history(channel=channel["id"], oldest=posted[1]["ts"],
                                           latest=posted[4]["ts"])  # fmt: skip
    assert [m["text"] for m in window["messages"]] == ["m3", "m2"]

    private = ada.web.conversations_create(name=f"secret-{uuid.uuid4().hex[:8]}", is_private=True)
    listed = [c["id"] for page in bob.web.conversations_list(limit=1000) for c in page["channels"]]
    assert channel["id"] in listed and private["channel"]["id"] not in listed
    with pytest.raises(SlackApiError) as hidden:
        bob.web.conversations_join(channel=private["channel"]["id"])
    assert hidden.value.response["error"] == "channel_not_found"

    assert eve.web.conversations_leave(channel=channel["id"])["ok"]
    assert eve.web.conversations_leave(channel=channel["id"])["not_in_channel"]
    assert ada.web.users_getPresence(user=bob.id)["presence"] == "away"
    calls: list[tuple[Callable[[], object], str]] = [
        (lambda: ada.web.chat_postMessage(channel=channel["id"], text=""), "no_text"),
        (lambda: ada.web.chat_postMessage(channel="CNOPE", text="x"), "channel_not_found"),
        (lambda: ada.web.conversations_history(channel=channel["id"], cursor="bad"), "invalid_cursor"),
        (lambda: ada.web.users_getPresence(user="UNOBODY"), "user_not_found"),
        (lambda: ada.web.api_call("nope.nothing"), "unknown_method"),
        (lambda: WebClient(token="xoxp-forged", base_url=ada.web.base_url).auth_test(), "invalid_auth"),
        (lambda: WebClient(base_url=ada.web.base_url).auth_test(), "not_authed"),
    ]  # fmt: skip
    for call, error in calls:
        with pytest.raises(SlackApiError) as failed:
            call()
        assert failed.value.response["error"] == error


def test_the_same_client_msg_id_stores_one_message(team: tuple[Person, Person, str]) -> None:
    ada, _, channel = team
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: ada.web.chat_postMessage(
            channel=channel, text="once", client_msg_id="retry-1"), range(4)))  # fmt: skip
    assert len({a["message"]["seq"] for a in answers}) == 1
    assert len(ada.web.conversations_history(channel=channel)["messages"]) == 1


# -- WebSockets -------------------------------------------------------------------------------


async def test_messages_reach_both_gateways_in_order_without_gaps(
    team: tuple[Person, Person, str],
) -> None:
    ada, bob, channel = team
    async with open_on(ada, "chat-gateway") as on_one, open_on(bob, "chat-gateway-2") as on_two:
        with ThreadPoolExecutor(4) as pool:  # four writers racing for the next seq
            list(pool.map(lambda n: (ada if n % 2 else bob).web.chat_postMessage(
                channel=channel, text=f"n{n}"), range(40)))  # fmt: skip
        for ws in (on_one, on_two):
            seen = await events(ws, lambda s: len(messages(s, channel)) >= 40)
            assert seqs(seen, channel) == list(range(1, 41))


async def test_socket_messages_are_acked_and_deduped(team: tuple[Person, Person, str]) -> None:
    ada, bob, channel = team
    async with open_on(ada, "chat-gateway-2") as ws, open_on(bob, "chat-gateway") as watcher:
        frame = {"type": "message", "channel": channel, "text": "hi", "client_msg_id": "c-1"}
        await ws.send(json.dumps(frame))
        await ws.send(json.dumps(frame))  # a client retrying after a lost ack
        acks = [e for e in await events(ws, lambda s: sum(e["type"] == "ack" for e in s) == 2)
                if e["type"] == "ack"]  # fmt: skip
        assert [a["seq"] for a in acks] == [1, 1] and all(a["ok"] for a in acks)
        seen = await events(watcher, lambda s: len(messages(s, channel)) >= 1)
        assert seqs(seen, channel) == [1]
        await ws.send(json.dumps({**frame, "channel": "CNOTMINE", "client_msg_id": "c-2"}))
        refused = await events(ws, lambda s: any(e.get("client_msg_id") == "c-2" for e in s))
        assert refused[-1]["ok"] is False and refused[-1]["error"] == "channel_not_found"
    assert len(ada.web.conversations_history(channel=channel)["messages"]) == 1


async def test_only_members_receive_and_tokens_are_checked_on_upgrade(
    native_stack: NativeStack, team: tuple[Person, Person, str]
) -> None:
    ada, bob, channel = team
    eve = Person(native_stack, "eve")
    async with open_on(eve, "chat-gateway") as outsider, open_on(bob, "chat-gateway") as member:
        ada.web.chat_postMessage(channel=channel, text="members only")
        await events(member, lambda s: len(messages(s, channel)) == 1)
        eve.web.conversations_join(channel=channel)  # joins after that message
        await events(outsider, lambda s: any(e["type"] == "member_joined_channel" for e in s))
        ada.web.chat_postMessage(channel=channel, text="welcome")
        seen = await events(outsider, lambda s: len(messages(s, channel)) == 1)
        assert seqs(seen, channel) == [2], "nothing from before the join"
        bob.web.conversations_leave(channel=channel)
        await events(member, lambda s: any(e["type"] == "channel_left" for e in s))
        ada.web.chat_postMessage(channel=channel, text="after bob left")
        await events(outsider, lambda s: len(messages(s, channel)) == 1)  # seq 3 arrived
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(member.recv(), 1.0)
    for token in ("", "xoxp-forged"):
        url = native_stack.url("chat-gateway").replace("http://", "ws://")
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"{url}/ws?token={token}"):
                pass
        assert refused.value.response.status_code == 401


async def test_a_client_that_reconnects_gets_what_it_missed_first(
    team: tuple[Person, Person, str],
) -> None:
    ada, bob, channel = team
    async with open_on(bob, "chat-gateway") as ws:
        ada.web.chat_postMessage(channel=channel, text="one")
        seen = await events(ws, lambda s: len(messages(s, channel)) == 1)
    last = seqs(seen, channel)[-1]
    for n in range(5):
        ada.web.chat_postMessage(channel=channel, text=f"while away {n}")
    async with bob.socket("chat-gateway-2", since=f"{channel}:{last}") as ws:
        ada.web.chat_postMessage(channel=channel, text="live")
        seen = await events(ws, lambda s: len(messages(s, channel)) >= 6)
        assert seqs(seen, channel) == [2, 3, 4, 5, 6, 7]
        assert messages(seen, channel)[-1]["text"] == "live"


async def test_a_gateway_restart_loses_nothing(
    native_stack: NativeStack, team: tuple[Person, Person, str]
) -> None:
    ada, bob, channel = team
    last = 0
    async with open_on(bob, "chat-gateway") as ws:
        ada.web.chat_postMessage(channel=channel, text="before")
        last = seqs(await events(ws, lambda s: len(messages(s, channel)) == 1), channel)[-1]
        native_stack.kill("chat-gateway")
        with pytest.raises(ConnectionClosed):
            while True:
                await ws.recv()
    try:
        for n in range(3):
            ada.web.chat_postMessage(channel=channel, text=f"during {n}")
        async with open_on(bob, "chat-gateway-2", since=f"{channel}:{last}") as ws:
            seen = await events(ws, lambda s: len(messages(s, channel)) >= 3)
            assert seqs(seen, channel) == [2, 3, 4]
    finally:
        native_stack.restart("chat-gateway")
    async with open_on(bob, "chat-gateway", since=f"{channel}:4") as ws:
        ada.web.chat_postMessage(channel=channel, text="back")
        assert seqs(await events(ws, lambda s: len(messages(s, channel)) == 1), channel) == [5]


async def test_bad_frames_get_errors_and_the_connection_survives(
    team: tuple[Person, Person, str],
) -> None:
    ada, _, channel = team
    async with open_on(ada, "chat-gateway") as ws:
        for frame, error in [("{not json", "invalid_json"), ("[1, 2]", "invalid_event"),
                             ('{"type": "teleport"}', "unknown_type"),
                             ('{"type": "message", "channel": "C1"}', "client_msg_id_required")]:  # fmt: skip
            await ws.send(frame)
            seen = await events(ws, lambda s: any(e["type"] == "error" for e in s))
            assert seen[-1]["error"] == error
        await ws.send('{"type": "ping", "id": 7}')
        assert (await events(ws, lambda s: any(e["type"] == "pong" for e in s)))[-1][
            "reply_to"
        ] == 7
    async with open_on(ada, "chat-gateway") as ws:
        await ws.send("x" * 100_000)  # over CHAT_MAX_FRAME_BYTES
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    async with open_on(ada, "chat-gateway") as ws:
        for _ in range(300):  # a flood: errors first, then the gateway hangs up
            await ws.send('{"type": "ping"}')
        with pytest.raises(ConnectionClosed) as flooded:
            while True:
                await ws.recv()
        assert flooded.value.rcvd is not None and flooded.value.rcvd.code == 1008
    async with open_on(ada, "chat-gateway") as ws:  # the gateway still serves
        ada.web.chat_postMessage(channel=channel, text="still here")
        assert (
            len(messages(await events(ws, lambda s: len(messages(s, channel)) == 1), channel)) == 1
        )


async def test_presence_follows_connections_and_heartbeats(
    team: tuple[Person, Person, str],
) -> None:
    ada, bob, _ = team
    async with open_on(ada, "chat-gateway") as watcher:
        async with open_on(bob, "chat-gateway-2") as ws:
            seen = await events(watcher, lambda s: any(
                e["type"] == "presence_change" and bob.id in e["users"] for e in s))  # fmt: skip
            assert seen[-1]["presence"] == "active"
            assert ada.web.users_getPresence(user=bob.id)["presence"] == "active"

            async def away() -> bool:
                return bool(ada.web.users_getPresence(user=bob.id)["presence"] == "away")

            await eventually(away, timeout_s=15, what="bob away without heartbeats (TTL 5 s)")
            await ws.send('{"type": "ping"}')

            async def active() -> bool:
                return bool(ada.web.users_getPresence(user=bob.id)["presence"] == "active")

            await eventually(active, timeout_s=5, what="a heartbeat makes bob active again")
        seen = await events(watcher, lambda s: any(
            e["type"] == "presence_change" and e["presence"] == "away" and bob.id in e["users"]
            for e in s))  # fmt: skip
        assert seen
