"""A connection's life on a gateway, from the upgrade to the close: registered (its route
announced, its user active), greeted with ``hello`` and caught up, its frames handled; then
unregistered (route withdrawn, user maybe away) however it ended."""

import contextlib
import time
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from chat.domain.since import parse_since
from chat.domain.token_bucket import TokenBucket
from chat.gateway.connection import Client, Connections
from chat.gateway.delivery import Deliveries
from chat.gateway.frames import ClientFrames
from chat.gateway.metrics import GatewayMetrics
from chat.gateway.presence import GatewayPresence
from chat.routes import GatewayRoutes
from chat.store import User


class ConnectionLifecycle:
    def __init__(
        self, *, connections: Connections, routes: GatewayRoutes, presence: GatewayPresence,
        deliveries: Deliveries, frames: ClientFrames, metrics: GatewayMetrics, gateway: str,
        heartbeat_s: float, socket_rate_per_s: float,
    ) -> None:  # fmt: skip
        self._connections = connections
        self._routes = routes
        self._presence = presence
        self._deliveries = deliveries
        self._frames = frames
        self._metrics = metrics
        self._gateway = gateway
        self._heartbeat_s = heartbeat_s
        self._socket_rate_per_s = socket_rate_per_s

    async def run(self, ws: ServerConnection, user: User, token: str) -> None:
        """The whole life of one authenticated connection; returns once it closed."""
        assert ws.request is not None
        bucket = TokenBucket.for_rate(self._socket_rate_per_s, time.monotonic())
        client = Client(ws, user, token, bucket=bucket,
                        delivery_seconds=self._metrics.delivery_seconds)  # fmt: skip
        since, malformed = parse_since(
            parse_qs(urlsplit(ws.request.path).query).get("since", [""])[0]
        )
        await self._register(client)
        try:
            channels, actions = await self._deliveries.ready(client, since)
            hello = {"type": "hello", "gateway": self._gateway, "user": client.user.id,
                     "heartbeat_s": self._heartbeat_s, "channels": channels}  # fmt: skip
            client.greet(hello)
            if malformed:
                self._metrics.rejected.labels("invalid_since").inc()
                client.send_event({"type": "error", "error": "invalid_since", "param": "since",
                                   "detail": "expected <channel>:<seq> with a 64-bit seq",
                                   "got": malformed[:5]})  # fmt: skip
            self._deliveries.act(client, actions, "replay")
            self._deliveries.settle_later(client)
            async for frame in ws:
                await self._frames.on_frame(client, frame)
        except ConnectionClosed:
            pass
        finally:
            await self._unregister(client)

    async def _register(self, client: Client) -> None:
        first = self._connections.add(client)
        self._metrics.connections.set(len(self._connections))
        if first:
            await self._routes.held(client.user.id)
        await self._presence.alive(client)  # opening a socket counts as a heartbeat

    async def _unregister(self, client: Client) -> None:
        last = self._connections.remove(client)
        client.stop_tasks()
        self._metrics.connections.set(len(self._connections))
        if last:
            with contextlib.suppress(Exception):
                await self._routes.released(client.user.id)
        with contextlib.suppress(Exception):
            await self._presence.silent(client)
