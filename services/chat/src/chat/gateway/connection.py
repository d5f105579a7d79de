"""One client connection's state and writes, and the connections a gateway holds.

Every frame a client is sent goes through :meth:`Client.write`, the ``gateway.write`` fault
site. With no fault in force a write is the transport's, at once (one dict lookup more). With
one, the client's frames queue, in order, behind a writer task that meets the fault before
each: a delay, a hang (frames pile up until the flag changes, or the queue passes the slow
client bound) or an error, which drops the connection as a failed socket write would; the
client reconnects with ``since`` and the replay gives it what it missed.
"""

import asyncio
import time
import uuid
from collections import deque
from collections.abc import Collection, KeysView
from dataclasses import dataclass, field
from typing import Any

import orjson
from prometheus_client import Histogram
from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from chat.domain.delivery import ConnectionDelivery, Fetch
from chat.domain.token_bucket import TokenBucket
from chat.store import User
from stackkit.faults import FaultInjected, inject
from stackkit.flags import ARMED_FAULTS
from stackkit.logs import get_logger

log = get_logger(__name__)
SLOW_CLIENT_BUFFER = 4 * 2**20  # bytes queued to one socket before it is dropped as too slow
WRITE_SITE = "gateway.write"


class GatewayWriteFaultInjected(FaultInjected, ConnectionResetError):
    """Like a socket write that failed (the peer reset the connection)."""


class LiveFrame(bytes):
    """A fanout message's frame and when its message was created (epoch seconds), so that
    the write can time the delivery. Bytes to everything else: the delivery machine holds it
    and the transport writes it as it would any frame."""

    created_at: float

    @classmethod
    def of(cls, frame: bytes, created_at: float) -> "LiveFrame":
        live = cls(frame)
        live.created_at = created_at
        return live


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
    delivery_seconds: Histogram | None = field(default=None, kw_only=True)
    """Observes, at the write of each :class:`LiveFrame`, how long after its creation."""
    queued: deque[bytes] | None = None
    """Frames waiting for the writer task while the ``gateway.write`` fault is (or was) on."""
    queued_bytes: int = 0
    writer: asyncio.Task[None] | None = None
    broken: bool = False
    """A write failed: the connection is being dropped, nothing more is written."""

    def write(self, frame: bytes) -> bool:
        """Queue a ready frame; False (and the socket is dropped) when the client is too slow."""
        if self.held is not None:
            self.held.append(frame)
            return True
        if self.broken or self.ws.state is not State.OPEN:
            return False
        if self.queued is None and WRITE_SITE not in ARMED_FAULTS:
            return self._put(frame)
        return self._queue(frame)

    def _put(self, frame: bytes) -> bool:
        transport = self.ws.transport
        if transport.get_write_buffer_size() > SLOW_CLIENT_BUFFER:
            self._drop()
            return False
        transport.write(frame)
        if self.delivery_seconds is not None and isinstance(frame, LiveFrame):
            self.delivery_seconds.observe(max(0.0, time.time() - frame.created_at))
        return True

    def _drop(self) -> None:
        self.broken = True
        self.queued = None
        self.ws.transport.abort()  # it will reconnect and replay what it missed

    def _queue(self, frame: bytes) -> bool:
        if self.queued is None:
            self.queued, self.queued_bytes = deque(), 0
            self.writer = asyncio.get_running_loop().create_task(self._write_queued())
        self.queued.append(frame)
        self.queued_bytes += len(frame)
        if self.queued_bytes > SLOW_CLIENT_BUFFER:  # hung writes: as slow as a client can be
            self._drop()
            return False
        return True

    async def _write_queued(self) -> None:
        """Write the queued frames in order, each after meeting the ``gateway.write`` fault;
        once the queue is empty, writes go straight to the transport again."""
        try:
            while self.queued and not self.broken and self.ws.state is State.OPEN:
                await inject(WRITE_SITE, GatewayWriteFaultInjected)
                if self.queued is None or self.broken or self.ws.state is not State.OPEN:
                    return
                frame = self.queued.popleft()
                self.queued_bytes -= len(frame)
                if not self._put(frame):
                    return
        except GatewayWriteFaultInjected:
            log.info("gateway_write_failed", user=self.user.id, connection=self.id)
            self._drop()
        finally:
            self.queued, self.writer = None, None

    def send_event(self, event: dict[str, Any]) -> bool:
        return self.write(text_frame(orjson.dumps(event)))

    def greet(self, hello: dict[str, Any]) -> None:
        """Send ``hello``, then whatever arrived for this connection while it was set up."""
        held, self.held = self.held or [], None
        self.send_event(hello)
        for frame in held:
            self.write(frame)

    def stop_tasks(self) -> None:
        for task in (self.fetcher, self.settler, self.writer):
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
