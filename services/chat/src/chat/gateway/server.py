"""The gateway process: one port for WebSocket upgrades and plain HTTP, the gateway's parts
built over its backends, and the subscription that feeds them.

    python -m chat.gateway --host 0.0.0.0 --port 8004
"""

import argparse
import asyncio
import contextlib
from contextlib import AsyncExitStack
from http import HTTPStatus
from importlib import resources
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import redis.asyncio as aioredis
from prometheus_client import generate_latest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from chat.gateway.connection import Connections
from chat.gateway.delivery import Deliveries
from chat.gateway.frames import ClientFrames
from chat.gateway.lifecycle import ConnectionLifecycle
from chat.gateway.metrics import GatewayMetrics
from chat.gateway.posting import Posting
from chat.gateway.presence import GatewayPresence
from chat.routes import GATEWAY_CHANNEL, GATEWAY_TTL_S, PRESENCE_CHANNEL, GatewayRoutes
from chat.settings import ChatSettings
from chat.store import ChatStore, User
from stackkit import flags
from stackkit.authorization import bearer_token
from stackkit.connections import open_postgres, open_redis
from stackkit.http import internal_client
from stackkit.logs import configure_logging, get_logger
from stackkit.periodic import run_every, run_until_stopped
from stackkit.signals import until_terminated
from stackkit.tracing import configure_tracing

log = get_logger(__name__)


class Gateway:
    """Every part of one gateway, built here over the backends it is given."""

    def __init__(
        self, settings: ChatSettings, *, redis: "aioredis.Redis", store: ChatStore,
        api: httpx.AsyncClient,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.id = settings.gateway_id
        self.redis = redis
        self.store = store
        self.metrics = GatewayMetrics()
        self.connections = Connections()
        self.routes = GatewayRoutes(redis, self.id)
        self.presence = GatewayPresence(
            redis, store, self.connections, gateway=self.id, heartbeat_s=settings.heartbeat_s,
            max_members=settings.presence_max_members,
        )  # fmt: skip
        self.deliveries = Deliveries(store, self.connections, self.metrics)
        frames = ClientFrames(
            presence=self.presence, posting=Posting(api, settings.api_url), metrics=self.metrics,
            rate_per_s=settings.socket_rate_per_s,
        )  # fmt: skip
        self.lifecycle = ConnectionLifecycle(
            connections=self.connections, routes=self.routes, presence=self.presence,
            deliveries=self.deliveries, frames=frames, metrics=self.metrics, gateway=self.id,
            heartbeat_s=settings.heartbeat_s, socket_rate_per_s=settings.socket_rate_per_s,
        )  # fmt: skip
        self.subscribed = asyncio.Event()
        self._upgrading: dict[int, tuple[User, str]] = {}

    @classmethod
    async def open(cls, stack: AsyncExitStack, settings: ChatSettings) -> "Gateway":
        """Open the gateway's backends on ``stack`` (closed with it) and build it over them,
        with the process's run-time flags (``fault.gateway.write`` is read at every write)."""
        await flags.open_flags(stack, settings)
        redis, _ = await open_redis(stack, settings.redis_url, timeout_s=settings.startup_timeout_s)
        pool, _ = await open_postgres(
            stack, settings.database_url, timeout_s=settings.startup_timeout_s
        )
        store = ChatStore(pool)
        await store.create_schema()
        api = internal_client(10.0)
        stack.push_async_callback(api.aclose)
        gateway = cls(settings, redis=redis, store=store, api=api)
        flags.register_flag_metrics(gateway.metrics.registry)
        return gateway

    async def start(self, stack: AsyncExitStack) -> None:
        """Start the background work, stopped with ``stack``."""
        await self.routes.reset()
        run_until_stopped(stack, self.subscribe(), "gateway-subscription")
        run_every(stack, GATEWAY_TTL_S / 3, self.announce, "gateway-announce")
        run_every(stack, self.settings.presence_flush_s, self.presence.flush, "presence-flush")
        run_every(stack, self.settings.heartbeat_s / 2, self.presence.sweep, "presence-sweep")

    # -- HTTP on the same port -------------------------------------------------------------

    async def process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        """Answer plain HTTP here; None lets an authenticated ``/ws`` upgrade go ahead."""
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
            response = conn.respond(HTTPStatus.OK, generate_latest(self.metrics.registry).decode())
            response.headers["Content-Type"] = "text/plain; version=0.0.4"
            return response
        if url.path == "/flags":
            response = conn.respond(HTTPStatus.OK, orjson.dumps(flags.status().as_dict()).decode())
            response.headers["Content-Type"] = "application/json"
            return response
        if url.path == "/":
            page = resources.files("chat").joinpath("page.html").read_text()
            response = conn.respond(HTTPStatus.OK, page)
            response.headers["Content-Type"] = "text/html; charset=utf-8"
            return response
        if url.path != "/ws":
            return conn.respond(HTTPStatus.NOT_FOUND, "not found\n")
        query_token = parse_qs(url.query).get("token", [""])[0]
        # The header wins; the query is for browsers, which cannot set headers on a WebSocket.
        token = bearer_token(request.headers.get("Authorization")) or query_token
        if not token:
            return conn.respond(HTTPStatus.UNAUTHORIZED, "not_authed\n")
        user = await self.store.user_by_token(token)
        if user is None:
            self.metrics.rejected.labels("invalid_auth").inc()
            return conn.respond(HTTPStatus.UNAUTHORIZED, "invalid_auth\n")
        self._upgrading[id(conn)] = (user, token)
        return None

    async def handle(self, ws: ServerConnection) -> None:
        """An upgraded connection, whose user :meth:`process_request` authenticated."""
        user, token = self._upgrading.pop(id(ws))
        await self.lifecycle.run(ws, user, token)

    # -- from the fanout and the other gateways -------------------------------------------

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
                            await self.presence.on_changes(payload)
                        else:
                            self.deliveries.on_batch(payload)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.subscribed.clear()
                log.exception("gateway_subscription_failed")
                await asyncio.sleep(0.5)

    async def announce(self) -> None:
        await self.routes.announce(self.connections.users())


async def run(settings: ChatSettings, host: str, port: int) -> None:
    configure_logging("chat-gateway", settings.log_level)
    configure_tracing("chat-gateway")
    async with AsyncExitStack() as stack:
        gateway = await Gateway.open(stack, settings)
        await gateway.start(stack)
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
