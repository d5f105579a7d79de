"""A gateway connection's first event is always ``hello``, even when deliveries for it arrive
while it is being set up (registered in the route table, memberships read)."""

from dataclasses import dataclass, field
from typing import Any, cast

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame
from websockets.protocol import State
from websockets.streams import StreamReader

from chat.domain.token_bucket import TokenBucket
from chat.gateway import Client
from chat.store import User


@dataclass
class RecordingTransport:
    written: list[bytes] = field(default_factory=list)

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def get_write_buffer_size(self) -> int:
        return 0


@dataclass
class OpenSocket:
    transport: RecordingTransport = field(default_factory=RecordingTransport)
    state: State = State.OPEN


def events(transport: RecordingTransport) -> list[dict[str, Any]]:
    """Each write is one frame: parsed back with websockets' own parser."""
    parsed = []
    for data in transport.written:
        reader = StreamReader()
        reader.feed_data(data)
        parser = Frame.parse(reader.read_exact, mask=False)
        try:
            while True:
                next(parser)
        except StopIteration as done:
            parsed.append(orjson.loads(done.value.data))
    return parsed


def test_deliveries_before_hello_wait_for_it() -> None:
    socket = OpenSocket()
    client = Client(cast(ServerConnection, socket), User("U1", "ada"), "xoxp-t",
                    bucket=TokenBucket.for_rate(20.0, now=0.0))  # fmt: skip
    client.send_event({"type": "member_joined_channel", "channel": "C1"})
    assert socket.transport.written == []
    client.greet({"type": "hello"})
    client.send_event({"type": "message", "channel": "C1", "seq": 1})
    assert [e["type"] for e in events(socket.transport)] == [
        "hello", "member_joined_channel", "message"]  # fmt: skip
