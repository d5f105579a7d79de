"""One client connection's state and writes, and the connections a gateway holds."""

import asyncio
import time
import uuid
from collections.abc import Collection, KeysView
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from chat.domain.delivery import ConnectionDelivery, Fetch
from chat.domain.token_bucket import TokenBucket
from chat.store import User

SLOW_CLIENT_BUFFER = 4 * 2**20  # bytes queued to one socket before it is dropped as too slow


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final text frame: what a server sends, identical for every recipient."""
    return Frame(Opcode.TEXT, payload).serialize(mask=False)


@dataclass(eq=False)
class Client:
    ws: ServerConnection
    user: User
    token: str
    bucket: TokenBucket = field(kw_only=True)
    """The frames this client may send (``socket_rate_per_s``)."""
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    delivery: ConnectionDelivery[bytes] = field(default_factory=ConnectionDelivery)
    fetches: list[Fetch] = field(default_factory=list)
    fetcher: asyncio.Task[None] | None = None
    """Runs this connection's fetches one after another, while there are any."""
    settler: asyncio.Task[None] | None = None
    """Catches up once the fanout surely knows this connection's route (see ``Deliveries``)."""
    presence_subs: set[str] = field(default_factory=set)
    last_heartbeat: float = field(default_factory=time.monotonic)
    stale: bool = False
    held: list[bytes] | None = field(default_factory=list)
    """Frames routed here before ``hello`` went out: hello is always a connection's first event."""

    def write(self, frame: bytes) -> bool:
        """Queue a ready frame; False (and the socket is dropped) when the client is too slow."""
        if self.held is not None:
            self.held.append(frame)
            return True
        if self.ws.state is not State.OPEN:
            return False
        transport = self.ws.transport
        if transport.get_write_buffer_size() > SLOW_CLIENT_BUFFER:
            transport.abort()  # it will reconnect and replay what it missed
            return False
        transport.write(frame)
        return True

    def send_event(self, event: dict[str, Any]) -> bool:
        return self.write(text_frame(orjson.dumps(event)))

    def greet(self, hello: dict[str, Any]) -> None:
        """Send ``hello``, then whatever arrived for this connection while it was set up."""
        held, self.held = self.held or [], None
        self.send_event(hello)
        for frame in held:
            self.write(frame)

    def stop_tasks(self) -> None:
        for task in (self.fetcher, self.settler):
            if task is not None:
                task.cancel()


class Connections:
    """The clients connected to this gateway, and by user: one user may hold several."""

    def __init__(self) -> None:
        self._clients: set[Client] = set()
        self._by_user: dict[str, set[Client]] = {}

    def __len__(self) -> int:
        return len(self._clients)

    def add(self, client: Client) -> bool:
        """True if it is its user's first connection here."""
        self._clients.add(client)
        first = client.user.id not in self._by_user
        self._by_user.setdefault(client.user.id, set()).add(client)
        return first

    def remove(self, client: Client) -> bool:
        """True if it was its user's last connection here."""
        self._clients.discard(client)
        mine = self._by_user.get(client.user.id, set())
        mine.discard(client)
        if mine:
            return False
        self._by_user.pop(client.user.id, None)
        return True

    def of_user(self, user: str) -> Collection[Client]:
        return self._by_user.get(user, ())

    def users(self) -> KeysView[str]:
        return self._by_user.keys()

    def snapshot(self) -> list[Client]:
        """Every client, in a list that stays put while the caller awaits."""
        return list(self._clients)
