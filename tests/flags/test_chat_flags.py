"""Chat's break-it switches on the running native stack, judged by plain ``websockets`` clients
on both gateways: each flip in the stack's flag file changes what the processes do within a
flip, and the flip back restores it with nothing lost.

- ``fault.gateway.write``: failed socket writes drop connections, and the clients' reconnect
  with ``since`` still gives each one every message once, in order; slow writes show in
  ``chat_delivery_seconds``.
- ``chat.fanoutStall``: nothing reaches the clients while it is on; the backlog arrives, in
  order, once it is off.
- ``chat.fanout``: per_member hands one delivery per recipient, per_gateway_batch one batch
  per gateway (``chat_fanout_handoffs_total`` and ``chat_fanout_recipients`` by mode).
"""

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from chat.gateway.delivery import ROUTE_SETTLE_S
from devstack.stack import REPO_FLAG_FILE, NativeStack
from stackkit.flag_file import read_flag_file, set_flag, write_flag_file
from tests.flags.running import within_a_flip
from tests.waiting import eventually

pytestmark = pytest.mark.e2e
GATEWAYS = ("chat-gateway", "chat-gateway-2")
MEMBERS = 6


async def metric(url: str, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples on ``url``/metrics whose labels include ``labels``."""
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"{url}/metrics")).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


async def on_gateways(stack: NativeStack, name: str, **labels: str) -> float:
    return sum([await metric(stack.url(g), name, **labels) for g in GATEWAYS])


async def flip(stack: NativeStack, key: str, variant: str, processes: tuple[str, ...]) -> None:
    """Set ``key`` to ``variant`` and wait, within a flip, until each of ``processes`` counted
    the change."""
    before = {p: await metric(stack.url(p), "flag_changes_total", flag=key) for p in processes}
    set_flag(stack.flags_path, key, variant)

    async def landed() -> bool:
        for process, count in before.items():
            if await metric(stack.url(process), "flag_changes_total", flag=key) <= count:
                return False
        return True

    await within_a_flip(landed, f"{key}={variant} in {processes}")


def restore(stack: NativeStack) -> None:
    write_flag_file(stack.flags_path, read_flag_file(REPO_FLAG_FILE))


@dataclass
class Member:
    id: str
    token: str
    seqs: list[int] = field(default_factory=list)
    connections: int = 0
    hello: asyncio.Event = field(default_factory=asyncio.Event)
    connected_at: float = 0.0


@dataclass
class Channel:
    id: str
    members: list[Member]
    api: httpx.AsyncClient
    last: int = 0

    async def post(self, text: str, by: int = 0) -> int:
        headers = {"authorization": f"Bearer {self.members[by].token}"}
        answer = await self.api.post("/api/chat.postMessage", headers=headers,
                                     json={"channel": self.id, "text": text})  # fmt: skip
        body = answer.json()
        assert body["ok"], body
        self.last = max(self.last, int(body["message"]["seq"]))
        return self.last

    def wrong(self) -> list[str]:
        """Members that do not have every message once, in seq order."""
        expected = list(range(1, self.last + 1))
        return [f"{m.id}: {m.seqs[-8:]} ({len(m.seqs)} of {self.last}, {m.connections} conns)"
                for m in self.members if m.seqs != expected]  # fmt: skip

    async def everyone_has_everything(self) -> bool:
        return not self.wrong()


async def seed(api: httpx.AsyncClient, count: int) -> Channel:
    prefix = f"fl{uuid.uuid4().hex[:8]}"
    created = await api.post("/dev/users/batch", json={"prefix": prefix, "count": count})
    created.raise_for_status()
    users = created.json()["users"]
    owner = {"authorization": f"Bearer {users[0]['token']}"}
    answer = (await api.post("/api/conversations.create", headers=owner,
                             json={"name": f"c-{prefix}"})).json()  # fmt: skip
    channel = answer["channel"]["id"]
    invited = (await api.post("/api/conversations.invite", headers=owner, json={
        "channel": channel, "users": ",".join(u["id"] for u in users[1:])})).json()  # fmt: skip
    assert invited["ok"], invited
    return Channel(channel, [Member(u["id"], u["token"]) for u in users], api)


async def follow(stack: NativeStack, member: Member, channel: str, first: int) -> None:
    """Read the channel; when the socket dies, reconnect to the other gateway with ``since`` =
    the last seq seen, as a Slack client does. Until cancelled."""
    attempt = first
    while True:
        gateway = GATEWAYS[attempt % len(GATEWAYS)]
        since = f"{channel}:{member.seqs[-1]}" if member.seqs else ""
        url = stack.url(gateway).replace("http://", "ws://")
        try:
            async with connect(f"{url}/ws?since={since}", ping_interval=None, open_timeout=30,
                               additional_headers={"Authorization": f"Bearer {member.token}"},
                               max_size=2**22) as ws:  # fmt: skip
                member.connections += 1
                async for raw in ws:
                    event = orjson.loads(raw)
                    if event["type"] == "message" and event["channel"] == channel:
                        member.seqs.append(event["seq"])
                    elif event["type"] == "hello":
                        member.connected_at = time.monotonic()
                        member.hello.set()
        except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError):
            pass
        attempt += 1
        await asyncio.sleep(0.05)  # the other gateway is up: no backoff to speak of


@contextlib.asynccontextmanager
async def following(stack: NativeStack, count: int = MEMBERS) -> AsyncIterator[Channel]:
    """A new channel of ``count`` members, each followed on a gateway (alternating), every one
    connected and receiving (a first message reached them all)."""
    async with httpx.AsyncClient(base_url=stack.url("chat"), timeout=30) as api:
        channel = await seed(api, count)
        tasks = [asyncio.create_task(follow(stack, m, channel.id, n))
                 for n, m in enumerate(channel.members)]  # fmt: skip
        try:
            await asyncio.wait_for(asyncio.gather(*(m.hello.wait() for m in channel.members)), 30)
            await channel.post("first")
            await eventually(channel.everyone_has_everything, timeout_s=15,
                             what=lambda: f"the first message everywhere: {channel.wrong()}")  # fmt: skip
            yield channel
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def probing(post: Callable[[], Awaitable[object]], condition: Callable[[], Awaitable[bool]]
            ) -> Callable[[], Awaitable[bool]]:  # fmt: skip
    """A condition that posts a message before each look: a write fault shows only in writes."""

    async def probe() -> bool:
        await post()
        return await condition()

    return probe


async def stays_false(condition: Callable[[], Awaitable[bool]], seconds: float) -> bool:
    """Whether ``condition`` stays false for ``seconds`` (looked at every 50 ms)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await condition():
            return False
        await asyncio.sleep(0.05)
    return True


async def test_failed_gateway_writes_drop_connections_and_the_replay_loses_nothing(
    native_stack: NativeStack,
) -> None:
    async with following(native_stack) as channel:
        errors = await on_gateways(native_stack, "faults_injected_total", site="gateway.write",
                                   outcome="error")  # fmt: skip
        connections = sum(m.connections for m in channel.members)
        try:
            await flip(native_stack, "fault.gateway.write", "flaky", GATEWAYS)

            async def failed() -> bool:
                now = await on_gateways(native_stack, "faults_injected_total",
                                        site="gateway.write", outcome="error")  # fmt: skip
                return now > errors

            probe = probing(lambda: channel.post("probe"), failed)
            # Landed within a flip (above); a post's way to the sockets is not part of that bound.
            await eventually(probe, timeout_s=10, what="a failed write (fault.gateway.write=flaky)")
            for n in range(20):
                await channel.post(f"while flaky {n}", by=n % MEMBERS)

            async def dropped() -> bool:
                return sum(m.connections for m in channel.members) > connections

            await eventually(dropped, timeout_s=15, what="a connection dropped by a failed write")
        finally:
            restore(native_stack)
        await flip_back_landed(native_stack, "fault.gateway.write")
        await eventually(channel.everyone_has_everything, timeout_s=30,
                         what=lambda: f"every message once, in order: {channel.wrong()}")  # fmt: skip
        # Off again: writes go straight out, none fails, everyone still gets everything.
        settled = await on_gateways(native_stack, "faults_injected_total", site="gateway.write",
                                    outcome="error")  # fmt: skip
        await channel.post("after")
        await eventually(channel.everyone_has_everything, timeout_s=10, what="a message after")
        after = await on_gateways(native_stack, "faults_injected_total", site="gateway.write",
                                  outcome="error")  # fmt: skip
        assert after == settled, "writes still failing with the fault off"
        assert not channel.wrong()


async def flip_back_landed(stack: NativeStack, key: str) -> None:
    """Every gateway's /flags shows ``key`` at the checkout's default again."""
    default = read_flag_file(REPO_FLAG_FILE)["flags"][key]["defaultVariant"]

    async def landed() -> bool:
        async with httpx.AsyncClient(timeout=5) as client:
            shown = [(await client.get(f"{stack.url(g)}/flags")).json()["values"][key]
                     for g in GATEWAYS]  # fmt: skip
        return all(value == default for value in shown)

    await within_a_flip(landed, f"{key} back to {default} on the gateways")


async def test_slow_gateway_writes_show_in_the_delivery_latency(
    native_stack: NativeStack,
) -> None:
    async with following(native_stack, count=2) as channel:
        count = await on_gateways(native_stack, "chat_delivery_seconds_count")
        quick = await on_gateways(native_stack, "chat_delivery_seconds_bucket", le="0.1")
        try:
            await flip(native_stack, "fault.gateway.write", "slow", GATEWAYS)
            await channel.post("slow")
            await eventually(channel.everyone_has_everything, timeout_s=10,
                             what=lambda: f"the slow message: {channel.wrong()}")  # fmt: skip
        finally:
            restore(native_stack)

        async def timed() -> bool:
            return await on_gateways(native_stack, "chat_delivery_seconds_count") >= count + 2

        await eventually(timed, timeout_s=5, what="both writes timed")
        assert await on_gateways(native_stack, "chat_delivery_seconds_count") == count + 2
        # 150-250 ms before each write: none within 100 ms of the message's creation.
        assert await on_gateways(native_stack, "chat_delivery_seconds_bucket", le="0.1") == quick
        await flip_back_landed(native_stack, "fault.gateway.write")
        await channel.post("quick again")
        await eventually(channel.everyone_has_everything, timeout_s=10, what="the last message")
        assert await on_gateways(native_stack, "chat_delivery_seconds_count") == count + 4
        assert await on_gateways(native_stack, "chat_delivery_seconds_bucket", le="10.0") == (
            count + 4
        ), "a delivery under 10 s"


async def test_a_stalled_fanout_delivers_nothing_then_catches_up_in_order(
    native_stack: NativeStack,
) -> None:
    async with following(native_stack) as channel:
        # A connection's settle-time catch-up (from storage) would hide the stall: past it.
        async def settled() -> bool:
            newest = max(m.connected_at for m in channel.members)
            return time.monotonic() - newest > ROUTE_SETTLE_S + 0.5

        await eventually(settled, timeout_s=10, what="the connections' catch-up done")
        try:
            await flip(native_stack, "chat.fanoutStall", "on", ("chat-fanout",))
            for n in range(10):
                await channel.post(f"while stalled {n}", by=n % MEMBERS)
            # Live delivery takes milliseconds: a second of nothing is the stall.
            assert await stays_false(lambda: _any_beyond(channel, 1), 1.0), channel.wrong()
            assert all(m.seqs == [1] for m in channel.members), channel.wrong()
        finally:
            restore(native_stack)
        await within_a_flip(
            channel.everyone_has_everything, "the backlog delivered after the stall"
        )
        assert not channel.wrong()


async def _any_beyond(channel: Channel, seq: int) -> bool:
    return any(m.seqs and m.seqs[-1] > seq for m in channel.members)


async def test_per_member_fanout_hands_one_delivery_per_recipient(
    native_stack: NativeStack,
) -> None:
    fanout = native_stack.url("chat-fanout")

    async def counts(mode: str) -> tuple[float, float, float]:
        return (
            await metric(fanout, "chat_fanout_handoffs_total", mode=mode),
            await metric(fanout, "chat_fanout_recipients_count", mode=mode),
            await metric(fanout, "chat_fanout_recipients_sum", mode=mode),
        )

    async with following(native_stack) as channel:
        batched = await counts("per_gateway")
        await channel.post("batched")
        await eventually(channel.everyone_has_everything, timeout_s=10, what="the batched one")
        handoffs, messages, recipients = await counts("per_gateway")
        assert (handoffs - batched[0], messages - batched[1], recipients - batched[2]) == (
            len(GATEWAYS),
            1,
            MEMBERS,
        ), "one batch per gateway for one message to every member"
        single = await counts("per_member")
        try:
            await flip(native_stack, "chat.fanout", "per_member", ("chat-fanout",))

            async def per_member() -> bool:
                return (await counts("per_member"))[0] > single[0]

            probe = probing(lambda: channel.post("probe"), per_member)
            await eventually(probe, timeout_s=10, what="per-member handoffs after the flip")
            await eventually(channel.everyone_has_everything, timeout_s=10, what="the probes")
            single = await counts("per_member")
            await channel.post("one by one")
            await eventually(channel.everyone_has_everything, timeout_s=10, what="per member")
            handoffs, messages, recipients = await counts("per_member")
            assert (handoffs - single[0], messages - single[1], recipients - single[2]) == (
                MEMBERS,
                1,
                MEMBERS,
            ), "one delivery per member"
        finally:
            restore(native_stack)
        await flip_back_to(native_stack, "chat-fanout", "chat.fanout", "per_gateway_batch")
        batched = await counts("per_gateway")
        await channel.post("batched again")
        await eventually(channel.everyone_has_everything, timeout_s=10, what="batched again")
        assert (await counts("per_gateway"))[0] - batched[0] == len(GATEWAYS)


async def flip_back_to(stack: NativeStack, process: str, key: str, value: str) -> None:
    async def landed() -> bool:
        async with httpx.AsyncClient(timeout=5) as client:
            shown = (await client.get(f"{stack.url(process)}/flags")).json()["values"][key]
        return bool(shown == value)

    await within_a_flip(landed, f"{key} back to {value} on {process}")
