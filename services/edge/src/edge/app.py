"""One edge PoP: the proxy on the hot path, and a small FastAPI app beside it for health,
readiness, metrics, the config plane's admin API and the docs.

Paths whose first segment is a route (``/catalog/...``, ``/chat-gateway/...``) go to the
proxy; everything else (``/healthz``, ``/_edge/...``) to the FastAPI app.
"""

import contextlib
import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from edge import admin, configlog, probes, websocket
from edge.domain.config import ChangeSet, Route
from edge.domain.origins import parse_origins
from edge.events import CONFIG_TOPIC, EVENTS, TOPICS, ConfigChanged
from edge.metrics import EdgeMetrics
from edge.proxy import Pop
from edge.replica import ApplyPath, ConfigReplica
from edge.settings import EdgeSettings
from edge.upstream import open_relay_session, open_session
from stackkit import flags
from stackkit.consumer import consume
from stackkit.events import Event
from stackkit.lifespan import backends
from stackkit.logs import get_logger
from stackkit.outbox import start_relay
from stackkit.periodic import run_every
from stackkit.service import ReadinessCheck, create_service_app

log = get_logger(__name__)
CONFIG_PUSH = "edge.configPush"


def default_routes(settings: EdgeSettings) -> dict[str, Route]:
    """Routes from the environment, each listing every instance of its service; the config
    plane may add and replace routes."""
    return {
        "catalog": Route("catalog", parse_origins(settings.catalog_urls)),
        "dispatch": Route("dispatch", parse_origins(settings.dispatch_urls)),
        "chat": Route("chat", parse_origins(settings.chat_urls)),
        "payments": Route("payments", parse_origins(settings.payments_urls)),
        "chat-gateway": Route(
            "chat-gateway", parse_origins(settings.chat_gateway_urls), websocket=True
        ),
    }


def replica_path(settings: EdgeSettings) -> Path:
    if settings.replica_dir:
        return Path(settings.replica_dir)
    return Path(tempfile.gettempdir()) / f"edge-replica-{settings.pop_name}"


class ReplicaInbox:
    """The consumer's inbox for config changes: the replica's version is the dedupe (a change
    at or below it is ignored), so every claim goes through, handing over the replica."""

    def __init__(self, replica: ConfigReplica) -> None:
        self._replica = replica

    @contextlib.asynccontextmanager
    async def claim(self, group: str, event_id: str) -> AsyncIterator[ConfigReplica]:
        yield self._replica


async def open_pop(app: FastAPI, stack: AsyncExitStack) -> dict[str, ReadinessCheck]:
    """The config log and its replica (caught up before serving), the upstream sessions, the
    PoP, its origin probes and the config log's outbox relay."""
    settings: EdgeSettings = app.state.settings
    pool = app.state.db
    await configlog.create_schema(pool)
    metrics = EdgeMetrics(app.state.metrics.registry)
    session = open_session(settings.max_connections)
    stack.push_async_callback(session.close)
    relay_session = open_relay_session()
    stack.push_async_callback(relay_session.close)
    app.state.relays = websocket.Relays(relay_session, settings.max_relayed_sockets)

    def applied(change: ChangeSet, applied_at: float, path: ApplyPath) -> None:
        metrics.config_version.set(change.version)
        metrics.config_propagation.labels(path).observe(max(0.0, applied_at - change.written_at))

    replica = ConfigReplica(
        replica_path(settings),
        default_routes(settings),
        on_purge=lambda purge: pop.cache.purge(
            urls=purge.get("urls", []), prefixes=purge.get("prefixes", [])
        ),
        on_applied=applied,
    )
    stack.callback(replica.close)
    pop = Pop(settings, lambda: replica.config, session, metrics)

    async def fetch(version: int) -> list[ChangeSet]:
        return await configlog.since(pool, version)

    if replica.cold_start:
        await replica.load_snapshot(lambda: configlog.snapshot(pool))
    caught_up = await replica.catch_up(fetch)
    metrics.config_version.set(replica.version)
    log.info(
        "config_replica_ready",
        version=replica.version,
        cold=replica.cold_start,
        caught_up=caught_up,
    )

    async def on_change(event: Event, target: ConfigReplica) -> None:
        if flags.choice(CONFIG_PUSH) == "log_polling":
            # The push is read and dropped (its offset committed): the replica learns the
            # change from its next poll of the log, within config_poll_s.
            return
        match EVENTS.parse(event):
            case ConfigChanged() as changed:
                await target.receive(changed.change_set(), fetch)

    config_feed = consume(
        stack,
        settings=settings,
        group_id=f"edge-config-{settings.pop_name}",
        topics=(CONFIG_TOPIC.name,),
        handler=on_change,
        inbox=ReplicaInbox(replica),
        dead_letters=app.state.events,
    )
    run_every(stack, settings.config_poll_s, lambda: replica.catch_up(fetch), "config-catch-up")
    run_every(
        stack,
        settings.origin_probe_interval_s,
        lambda: probes.probe_origins(session, pop.origin_health, pop.config, pop.clock),
        "origin-probes",
    )
    app.state.relay = start_relay(stack, pool, app.state.events)
    app.state.replica = replica
    app.state.pop = pop
    return {"config-feed": config_feed}


class EdgeApp:
    """The ASGI app uvicorn serves: the proxy for routed paths, the ops app for the rest."""

    def __init__(self, ops: FastAPI) -> None:
        self.ops = ops
        self.state = ops.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pop: Pop | None = getattr(self.ops.state, "pop", None)
        if pop is None or scope["type"] == "lifespan":
            await self.ops(scope, receive, send)
            return
        prefix = scope["path"][1:].partition("/")[0]
        route = pop.config().routes.get(prefix)
        if route is None:
            await self.ops(scope, receive, send)
        elif scope["type"] == "websocket":
            refusal = pop.admit_upgrade(route, scope)  # WAF and limits, as for any request
            if refusal is not None:
                await websocket.refuse(scope, receive, send, *refusal)
                return
            await websocket.relay(
                self.ops.state.relays,
                pop.origin_health.order(route.origins),
                route,
                pop.settings.pop_name,
                scope,
                receive,
                send,
                on_unreachable=lambda origin: probes.note(
                    pop.origin_health, origin, False, pop.clock(), "connection refused"
                ),
            )
        else:
            await pop.handle_http(route, scope, receive, send)


def create_app(settings: EdgeSettings | None = None) -> EdgeApp:
    ops = create_service_app(
        name="edge",
        settings=settings or EdgeSettings(),
        lifespan_parts=(backends(TOPICS), open_pop),
        routers=(admin.router,),
        description="Cloudflare: an edge PoP. Routed paths (/catalog, /dispatch, /chat, "
        "/payments, /chat-gateway) are proxied and cached; /_edge is the config plane.",
    )
    return EdgeApp(ops)
