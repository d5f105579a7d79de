"""The ``gateway.write`` fault site at a client's socket writes, through the process's flags read
from a flag file (no servers): with the fault off a write is the transport's at once; slow and
hung writes keep their order; a failed write drops the connection and writes nothing more."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import pytest
from prometheus_client import CollectorRegistry, Histogram
from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from chat.domain.fanout import handoffs
from chat.domain.token_bucket import TokenBucket
from chat.gateway.connection import Client, LiveFrame
from chat.store import User
from tests.flags.running import FlagFile, running_flags, within_a_flip
from tests.waiting import eventually

pytestmark = pytest.mark.integration


@dataclass
class Transport:
    written: list[bytes] = field(default_factory=list)
    aborted: bool = False

    def write(self, data: bytes) -> None:
        assert not self.aborted, "written after the connection was dropped"
        self.written.append(data)

    def get_write_buffer_size(self) -> int:
        return 0

    def abort(self) -> None:
        self.aborted = True


@dataclass
class Socket:
    transport: Transport = field(default_factory=Transport)
    state: State = State.OPEN


def client_on(socket: Socket, histogram: Histogram | None = None) -> Client:
    client = Client(cast(ServerConnection, socket), User("U1", "ada"), "xoxp-t",
                    bucket=TokenBucket.for_rate(20.0, now=0.0), delivery_seconds=histogram)  # fmt: skip
    client.held = None  # hello is out
    return client


@pytest.fixture
async def flag_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FlagFile]:
    async with running_flags(tmp_path, monkeypatch) as file:
        yield file


async def test_slow_and_hung_writes_keep_their_order_and_off_writes_at_once(
    flag_file: FlagFile,
) -> None:
    socket = Socket()
    client = client_on(socket)
    assert client.write(b"1") and socket.transport.written == [b"1"], "off: written at once"
    flag_file.set("fault.gateway.write", "hang")

    async def queued() -> bool:
        client.write(b"probe")
        return client.queued is not None

    await within_a_flip(queued, "writes queued behind the hung writer")
    for n in range(2, 5):
        assert client.write(str(n).encode())
    written = len(socket.transport.written)  # 1 and the probes that went out before the flip
    await asyncio.sleep(0.2)  # not a synchronisation: a hung writer must still write nothing
    assert len(socket.transport.written) == written, "a hung write writes nothing"
    flag_file.set("fault.gateway.write", "slow")

    async def drained() -> bool:
        return client.queued is None

    await eventually(drained, timeout_s=10, what="the queue written once the hang ended")
    frames = [f for f in socket.transport.written if f != b"probe"]
    assert frames == [b"1", b"2", b"3", b"4"], socket.transport.written
    flag_file.restore()

    async def direct() -> bool:
        before = len(socket.transport.written)
        client.write(b"5")
        return len(socket.transport.written) == before + 1

    await within_a_flip(direct, "writes straight to the transport again")
    assert not socket.transport.aborted


async def test_a_failed_write_drops_the_connection_and_writes_nothing_after(
    flag_file: FlagFile,
) -> None:
    socket = Socket()
    registry = CollectorRegistry()
    histogram = Histogram("delivery", "test", registry=registry)
    client = client_on(socket, histogram)
    assert client.write(LiveFrame.of(b"live", created_at=0.0))
    assert registry.get_sample_value("delivery_count") == 1, "the live write was timed"
    flag_file.set("fault.gateway.write", "down")

    async def dropped() -> bool:
        client.write(b"x")
        await asyncio.sleep(0)  # the writer task's turn
        return socket.transport.aborted

    await within_a_flip(dropped, "a failed write dropping the connection")
    assert client.broken and client.write(b"y") is False
    assert socket.transport.written[0] == b"live"  # and the probes written before the flip


def test_per_gateway_hands_one_batch_per_gateway_per_member_one_per_recipient() -> None:
    plan = {"g1": ["U1", "U2", "U3"], "g2": ["U4"]}
    assert handoffs(plan, "per_gateway") == [("g1", ["U1", "U2", "U3"]), ("g2", ["U4"])]
    assert handoffs(plan, "per_member") == [
        ("g1", ["U1"]), ("g1", ["U2"]), ("g1", ["U3"]), ("g2", ["U4"])]  # fmt: skip
    assert handoffs({}, "per_member") == []
