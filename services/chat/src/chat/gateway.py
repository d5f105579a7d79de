"""A WebSocket gateway: holds persistent connections, separate from the stateless Web API.

    python -m chat.gateway --host 0.0.0.0 --port 8004

Built on the ``websockets`` library (one port: ``GET /ws`` upgrades; ``/healthz``, ``/readyz``,
``/metrics`` and ``/`` (a small chat page) are answered as plain HTTP). A fanout batch for a
channel is encoded once as a WebSocket frame and the same bytes are written to every recipient's
socket: server frames are never masked, so one encoding serves ten thousand connections.

Per connection a :class:`ConnectionDelivery` (a pure state machine) decides what is written:
every message of each channel once, in ``seq`` order, no gap. The client says what it has
(``?since=C1:41,C2:7``); the machine asks for the rest from storage, holds live messages while
it replays and fetches any gap it notices; this module only carries out its actions.
"""

import argparse
import asyncio
import contextlib
import re
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State

from chat.domain.delivery import Action, ConnectionDelivery, Fetch, Write
from chat.domain.presence import Presence, PresenceCoalescer
from chat.presence import connection_alive, connection_gone
from chat.routes import (
    GATEWAY_CHANNEL,
    GATEWAYS_KEY,
    PRESENCE_CHANNEL,
    ROUTES_CHANNEL,
    ROUTES_KEY,
)
from chat.settings import ChatSettings
from chat.store import ChatStore, User
from stackkit.connections import open_postgres, open_redis
from stackkit.http import internal_client
from stackkit.logs import configure_logging, get_logger
from stackkit.periodic import run_every, run_until_stopped
from stackkit.signals import until_terminated

log = get_logger(__name__)
REPLAY_PAGE = 500
SLOW_CLIENT_BUFFER = 4 * 2**20  # bytes queued to one socket before it is dropped as too slow
GATEWAY_TTL_S = 6.0
ROUTE_SETTLE_S = 2.0  # after a connect, by when every fanout has seen its route (pub/sub: ms)
EMPTY_FETCH_PAUSE_S = 0.1  # a fetch found nothing new yet: a breath before asking again
_SEQ = re.compile(r"[0-9]{1,19}")  # ASCII digits only: str.isdigit() also takes "²"
MAX_SEQ = 2**63 - 1  # seqs are Postgres bigints


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final text frame: what a server sends, identical for every recipient."""
    return Frame(Opcode.TEXT, payload).serialize(mask=False)


def parse_since(raw: str) -> tuple[dict[str, int], list[str]]:
    """``C1:41,C2:7`` -> ``({"C1": 41, "C2": 7}, [])``; the second item lists the malformed
    parts (not ``<channel>:<seq>``, the seq not ASCII digits or past a bigint), ignored."""
    since, bad = {}, []
    for part in raw.split(","):
        channel, _, seq = part.strip().partition(":")
        if not channel and not seq:
            continue
        if channel and _SEQ.fullmatch(seq) and int(seq) <= MAX_SEQ:
            since[channel] = int(seq)
        else:
            bad.append(part.strip()[:60])
    return since, bad


@dataclass(eq=False)
class Client:
    ws: ServerConnection
    user: User
    token: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    delivery: ConnectionDelivery[bytes] = field(default_factory=ConnectionDelivery)
    fetches: list[Fetch] = field(default_factory=list)
    fetcher: asyncio.Task[None] | None = None
    """Runs this connection's fetches one after another, while there are any."""
    settler: asyncio.Task[None] | None = None
    """Catches up once the fanout surely knows this connection's route (see ``_settle``)."""
    presence_subs: set[str] = field(default_factory=set)
    last_heartbeat: float = field(default_factory=time.monotonic)
    stale: bool = False
    allowance: float = 0.0
    allowance_at: float = field(default_factory=time.monotonic)
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


class Gateway:
    def __init__(self, settings: ChatSettings) -> None:
        self.settings = settings
        self.id = settings.gateway_id
        self.clients: set[Client] = set()
        self.by_user: dict[str, set[Client]] = {}
        self.presence = PresenceCoalescer()
        self.registry = CollectorRegistry()
        self.connections = Gauge("chat_gateway_connections", "Open WebSocket connections",
                                 registry=self.registry)  # fmt: skip
        self.delivered = Counter("chat_gateway_frames", "Frames written to clients", ["kind"],
                                 registry=self.registry)  # fmt: skip
        self.rejected = Counter("chat_gateway_rejected", "Client frames refused", ["reason"],
                                registry=self.registry)  # fmt: skip
        self.store: ChatStore
        self.redis: aioredis.Redis
        self.api: httpx.AsyncClient
        self.subscribed = asyncio.Event()
        self._upgrading: dict[int, tuple[User, str]] = {}

    # -- HTTP on the same port -------------------------------------------------------------

    async def process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if url.path == "/healthz":
            return conn.respond(HTTPStatus.OK, '{"status":"ok"}\n')
        if url.path == "/readyz":
            ready = self.subscribed.is_set()
            with contextlib.suppress(Exception):
                await self.redis.ping()
                await self.store.pool.fetchval("SELECT 1")
                if ready:
                    return conn.respond(HTTPStatus.OK, '{"status":"ok"}\n')
                return conn.respond(HTTPStatus.SERVICE_UNAVAILABLE, '{"status":"starting"}\n')
            return conn.respond(HTTPStatus.SERVICE_UNAVAILABLE, '{"status":"unavailable"}\n')
        if url.path == "/metrics":
            response = conn.respond(HTTPStatus.OK, generate_latest(self.registry).decode())
            response.headers["Content-Type"] = "text/plain; version=0.0.4"
            return response
        if url.path == "/":
            page = resources.files("chat").joinpath("page.html").read_text()
            response = conn.respond(HTTPStatus.OK, page)
            response.headers["Content-Type"] = "text/html; charset=utf-8"
            return response
        if url.path != "/ws":
            return conn.respond(HTTPStatus.NOT_FOUND, "not found\n")
        token = parse_qs(url.query).get("token", [""])[0]
        scheme, _, credentials = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            token = credentials.strip()
        if not token:
            return conn.respond(HTTPStatus.UNAUTHORIZED, "not_authed\n")
        user = await self.store.user_by_token(token)
        if user is None:
            self.rejected.labels("invalid_auth").inc()
            return conn.respond(HTTPStatus.UNAUTHORIZED, "invalid_auth\n")
        self._upgrading[id(conn)] = (user, token)
        return None

    # -- connections -----------------------------------------------------------------------

    async def handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        user, token = self._upgrading.pop(id(ws))
        client = Client(ws, user, token, allowance=self.settings.socket_rate_per_s * 2)
        since, malformed = parse_since(
            parse_qs(urlsplit(ws.request.path).query).get("since", [""])[0]
        )
        await self._register(client)
        try:
            memberships = await self.store.memberships(client.user.id)
            positions = {channel: (min(since.get(channel, last_seq), last_seq), last_seq)
                         for channel, last_seq in memberships.items()}  # fmt: skip
            actions = client.delivery.ready(positions)
            channels = {channel: have for channel, (have, _) in positions.items()}
            hello = {"type": "hello", "gateway": self.id, "user": client.user.id,
                     "heartbeat_s": self.settings.heartbeat_s, "channels": channels}  # fmt: skip
            client.greet(hello)
            if malformed:
                self.rejected.labels("invalid_since").inc()
                client.send_event({"type": "error", "error": "invalid_since", "param": "since",
                                   "detail": "expected <channel>:<seq> with a 64-bit seq",
                                   "got": malformed[:5]})  # fmt: skip
            self._act(client, actions, "replay")
            client.settler = asyncio.create_task(self._settle(client))
            async for frame in ws:
                await self._on_frame(client, frame)
        except ConnectionClosed:
            pass
        finally:
            await self._unregister(client)

    async def _register(self, client: Client) -> None:
        self.clients.add(client)
        self.connections.set(len(self.clients))
        user = client.user.id
        first = user not in self.by_user
        self.by_user.setdefault(user, set()).add(client)
        if first:
            await self.redis.sadd(ROUTES_KEY + self.id, user)
            await self.redis.publish(ROUTES_CHANNEL, f"+{self.id} {user}")
        await self._heartbeat(client)  # opening a socket counts as one

    async def _unregister(self, client: Client) -> None:
        self.clients.discard(client)
        if client.fetcher is not None:
            client.fetcher.cancel()
        if client.settler is not None:
            client.settler.cancel()
        self.connections.set(len(self.clients))
        user = client.user.id
        mine = self.by_user.get(user, set())
        mine.discard(client)
        if not mine:
            self.by_user.pop(user, None)
            with contextlib.suppress(Exception):
                await self.redis.srem(ROUTES_KEY + self.id, user)
                await self.redis.publish(ROUTES_CHANNEL, f"-{self.id} {user}")
        with contextlib.suppress(Exception):
            await self._silent(client)

    def _ttl(self) -> float:
        return self.settings.heartbeat_s * 2.5

    def _presence_key(self, client: Client) -> str:
        return f"{self.id}/{client.id}"

    async def _heartbeat(self, client: Client) -> None:
        client.last_heartbeat = time.monotonic()
        client.stale = False
        if await connection_alive(self.redis, client.user.id, self._presence_key(client),
                                  self._ttl()):  # fmt: skip
            self.presence.record(client.user.id, "active")

    async def _silent(self, client: Client) -> None:
        """The connection closed or stopped heartbeating: its user may be away now."""
        if await connection_gone(self.redis, client.user.id, self._presence_key(client)):
            self.presence.record(client.user.id, "away")

    # -- frames from clients -----------------------------------------------------------------

    def _flooding(self, client: Client) -> bool:
        """A token bucket: ``socket_rate_per_s`` frames a second, bursts of twice that."""
        rate = self.settings.socket_rate_per_s
        now = time.monotonic()
        client.allowance = min(rate * 2, client.allowance + (now - client.allowance_at) * rate)
        client.allowance_at = now
        if client.allowance < 1:
            return True
        client.allowance -= 1
        return False

    async def _on_frame(self, client: Client, frame: str | bytes) -> None:
        if self._flooding(client):
            self.rejected.labels("ratelimited").inc()
            limit = f"at most {self.settings.socket_rate_per_s}/s"
            client.send_event({"type": "error", "error": "ratelimited", "detail": limit})
            if client.allowance < -self.settings.socket_rate_per_s * 5:
                await client.ws.close(1008, "flooding")
            client.allowance -= 1
            return
        try:
            event = orjson.loads(frame)
        except orjson.JSONDecodeError:
            self.rejected.labels("invalid_json").inc()
            client.send_event({"type": "error", "error": "invalid_json"})
            return
        if not isinstance(event, dict):
            client.send_event({"type": "error", "error": "invalid_event"})
            return
        kind = event.get("type")
        if kind in ("ping", "heartbeat"):
            await self._heartbeat(client)
            client.send_event({"type": "pong", "reply_to": event.get("id")})
        elif kind == "message":
            await self._post(client, event)
        elif kind == "presence_sub":
            ids = event.get("ids")
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                client.send_event({"type": "error", "error": "invalid_event"})
                return
            client.presence_subs = set(ids[:500])
        else:
            self.rejected.labels("unknown_type").inc()
            client.send_event({"type": "error", "error": "unknown_type", "got": str(kind)[:40]})

    async def _post(self, client: Client, event: dict[str, Any]) -> None:
        """Messages sent over the socket go through the Web API, as Slack's gateways do: one
        place stores, orders and dedupes them (``client_msg_id``)."""
        client_msg_id = event.get("client_msg_id")
        if not isinstance(client_msg_id, str) or not 1 <= len(client_msg_id) <= 64:
            client.send_event({"type": "error", "error": "client_msg_id_required"})
            return
        body = {"channel": event.get("channel"), "text": event.get("text"),
                "client_msg_id": client_msg_id}  # fmt: skip
        try:
            response = await self.api.post(
                f"{self.settings.api_url}/api/chat.postMessage",
                json=body, headers={"authorization": f"Bearer {client.token}"},
            )  # fmt: skip
            answer = response.json()
        except (httpx.HTTPError, ValueError):
            client.send_event(
                {"type": "error", "error": "unavailable", "client_msg_id": client_msg_id}
            )
            return
        if answer.get("ok"):
            message = answer["message"]
            client.send_event({"type": "ack", "ok": True, "client_msg_id": client_msg_id,
                               "channel": answer["channel"], "seq": message["seq"],
                               "ts": message["ts"]})  # fmt: skip
        else:
            client.send_event({"type": "ack", "ok": False, "client_msg_id": client_msg_id,
                               "error": answer.get("error", "unknown")})  # fmt: skip

    # -- deliveries from the fanout ------------------------------------------------------------

    def _act(self, client: Client, actions: list[Action[bytes]], kind: str) -> None:
        """Carry out what the client's delivery machine decided, in order."""
        for action in actions:
            if isinstance(action, Write):
                for frame in action.frames:
                    if client.write(frame):
                        self.delivered.labels(kind).inc()
            else:
                client.fetches.append(action)
                if client.fetcher is None:
                    client.fetcher = asyncio.create_task(self._fetch_all(client))

    async def _settle(self, client: Client) -> None:
        """Once the fanout knows this connection's route, catch up on what it may have routed
        elsewhere meanwhile (a message committed after ``hello`` read the positions)."""
        await asyncio.sleep(ROUTE_SETTLE_S)
        try:
            last_seqs = await self.store.memberships(client.user.id)
        except Exception:  # storage is away: the next message's gap shows what is missing
            log.warning("settle_check_failed", user=client.user.id)
            return
        if client.ws.state is State.OPEN:
            self._act(client, client.delivery.caught_up(last_seqs), "replay")

    async def _fetch_all(self, client: Client) -> None:
        """Read each requested range from storage and report it to the machine, one at a time
        (a connection never holds more than one of the pool's connections)."""
        try:
            while client.fetches and client.ws.state is State.OPEN:
                fetch = client.fetches.pop(0)
                try:
                    page = await self.store.messages_after(fetch.channel, fetch.after, REPLAY_PAGE)
                except Exception:  # storage is away: the machine still waits for this answer
                    log.exception("replay_fetch_failed", channel=fetch.channel)
                    client.fetches.insert(0, fetch)
                    await asyncio.sleep(1.0)
                    continue
                found = [(m.seq, text_frame(orjson.dumps(m.as_event().model_dump(mode="json"))))
                         for m in page]  # fmt: skip
                self._act(client, client.delivery.fetched(fetch.channel, found), "replay")
                if not page and client.fetches:
                    await asyncio.sleep(EMPTY_FETCH_PAUSE_S)
        finally:
            client.fetcher = None

    def on_batch(self, batch: dict[str, Any]) -> None:
        kind = batch.get("kind")
        if kind == "message":
            event = batch["event"]
            channel, seq = event["channel"], int(event["seq"])
            frame = text_frame(orjson.dumps(event))
            for user in batch["recipients"]:
                for client in self.by_user.get(user, ()):
                    self._act(client, client.delivery.live(channel, seq, frame), "live")
        elif kind == "joined":
            for client in self.by_user.get(batch["user"], ()):
                client.delivery.joined(batch["channel"], int(batch["last_seq"]))
                client.send_event({"type": "member_joined_channel", "channel": batch["channel"],
                                   "user": batch["user"]})  # fmt: skip
        elif kind == "left":
            for client in self.by_user.get(batch["user"], ()):
                client.delivery.left(batch["channel"])
                client.send_event({"type": "channel_left", "channel": batch["channel"]})

    async def subscribe(self) -> None:
        """Deliveries for this gateway and everybody's presence changes, until cancelled."""
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(GATEWAY_CHANNEL + self.id, PRESENCE_CHANNEL)
                    await self.announce()  # at once: Redis may be back from a restart
                    self.subscribed.set()
                    async for message in pubsub.listen():
                        if message["type"] != "message":
                            continue
                        payload = orjson.loads(message["data"])
                        channel = message["channel"]
                        if channel in (PRESENCE_CHANNEL, PRESENCE_CHANNEL.encode()):
                            await self.on_presence(payload)
                        else:
                            self.on_batch(payload)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.subscribed.clear()
                log.exception("gateway_subscription_failed")
                await asyncio.sleep(0.5)

    # -- presence ------------------------------------------------------------------------------

    async def flush_presence(self) -> None:
        if changes := self.presence.drain():
            await self.redis.publish(PRESENCE_CHANNEL, orjson.dumps(changes))

    async def on_presence(self, changes: dict[str, Presence]) -> None:
        """Tell each local client, in at most two events (active, away), about the changed
        users it shares a small channel with or subscribed to."""
        if not self.clients:
            return
        by_channel = await self.store.peers_in_small_channels(
            list(changes), self.settings.presence_max_members
        )
        for client in list(self.clients):
            interested = {u for c in client.delivery.channels if c in by_channel
                          for u in by_channel[c]}  # fmt: skip
            interested |= client.presence_subs & changes.keys()
            interested.discard(client.user.id)
            for presence in ("active", "away"):
                users = sorted(u for u in interested if changes[u] == presence)
                if users:
                    client.send_event({"type": "presence_change", "presence": presence,
                                       "users": users})  # fmt: skip

    async def sweep(self) -> None:
        """Clients silent for longer than the presence TTL count as away (the socket stays)."""
        now = time.monotonic()
        for client in list(self.clients):
            if not client.stale and now - client.last_heartbeat > self._ttl():
                client.stale = True
                await self._silent(client)

    async def announce(self) -> None:
        """Refresh this gateway's entry; if Redis lost its routes (a restart without
        persistence), write them again so the fanout finds the users connected here."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(GATEWAYS_KEY, {self.id: time.time() + GATEWAY_TTL_S})
            pipe.scard(ROUTES_KEY + self.id)
            _, held = await pipe.execute()
        if held == 0 and self.by_user:
            await self.redis.sadd(ROUTES_KEY + self.id, *self.by_user)
            log.warning("gateway_routes_restored", users=len(self.by_user))


async def run(settings: ChatSettings, host: str, port: int) -> None:
    configure_logging("chat-gateway", settings.log_level)
    gateway = Gateway(settings)
    async with contextlib.AsyncExitStack() as stack:
        gateway.redis, _ = await open_redis(
            stack, settings.redis_url, timeout_s=settings.startup_timeout_s
        )
        pool, _ = await open_postgres(
            stack, settings.database_url, timeout_s=settings.startup_timeout_s
        )
        gateway.store = ChatStore(pool)
        await gateway.store.create_schema()
        gateway.api = internal_client(10.0)
        stack.push_async_callback(gateway.api.aclose)
        await gateway.redis.delete(ROUTES_KEY + gateway.id)  # a restart holds nobody yet
        run_until_stopped(stack, gateway.subscribe(), "gateway-subscription")
        run_every(stack, GATEWAY_TTL_S / 3, gateway.announce, "gateway-announce")
        run_every(stack, settings.presence_flush_s, gateway.flush_presence, "presence-flush")
        run_every(stack, settings.heartbeat_s / 2, gateway.sweep, "presence-sweep")
        server = await stack.enter_async_context(
            serve(gateway.handle, host, port, process_request=gateway.process_request,
                  compression=None, max_size=settings.max_frame_bytes,
                  ping_interval=max(settings.heartbeat_s, 5), ping_timeout=20,
                  server_header="rwa-chat-gateway", backlog=4096)
        )  # fmt: skip
        log.info("gateway_listening", gateway=gateway.id, host=host, port=port)
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description="The chat WebSocket gateway.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8004)
    args = parser.parse_args()
    import uvloop

    uvloop.run(until_terminated(run(ChatSettings(), args.host, args.port)))


if __name__ == "__main__":
    main()
