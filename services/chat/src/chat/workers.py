"""The fanout worker: turns one channel message on Kafka into one batch per gateway.

``chat.messages`` is keyed by channel, so a channel's messages and membership changes arrive
in order. Membership is cached per channel and updated by those very events; the users each
gateway holds come from the route table; recipients are the intersection, grouped by gateway,
and each gateway gets one Redis pub/sub message for the whole batch.
"""

from contextlib import AsyncExitStack
from typing import Any

import orjson
import redis.asyncio as aioredis
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram

from chat.domain.fanout import plan_deliveries
from chat.events import MESSAGES, TOPICS
from chat.routes import GATEWAY_CHANNEL, RouteTable
from chat.settings import ChatSettings
from chat.store import ChatStore
from stackkit.connections import open_backends
from stackkit.consumer import consume
from stackkit.events import Event
from stackkit.inbox import PostgresInbox, PostgresTx
from stackkit.periodic import run_until_stopped
from stackkit.service import ReadinessCheck, create_service_app

FANOUT_GROUP = "chat-fanout"
MEMBERSHIP_CACHE_SIZE = 10_000
ROUTES_WAIT_S = 10.0


class Fanout:
    def __init__(
        self, store: ChatStore, redis: "aioredis.Redis", routes: RouteTable,
        registry: CollectorRegistry,
    ) -> None:  # fmt: skip
        self._store = store
        self._redis = redis
        self.routes = routes
        self._members: dict[str, set[str]] = {}
        self._deliveries = Counter(
            "chat_fanout_deliveries", "Recipients handed to gateways", registry=registry
        )
        self._batch = Histogram(
            "chat_fanout_plan_seconds", "Planning one message's deliveries", registry=registry
        )

    async def members(self, channel: str) -> set[str]:
        if channel not in self._members:
            if len(self._members) >= MEMBERSHIP_CACHE_SIZE:
                self._members.pop(next(iter(self._members)))
            self._members[channel] = await self._store.all_members(channel)
        return self._members[channel]

    async def _send(self, gateway: str, payload: dict[str, Any]) -> None:
        await self._redis.publish(GATEWAY_CHANNEL + gateway, orjson.dumps(payload))

    async def __call__(self, event: Event, tx: PostgresTx) -> None:
        data = event.data
        channel = str(data["channel"])
        if event.type == "chat.message":
            # After a Redis outage the table may lack users who connected meanwhile: wait
            # (briefly) until it follows Redis again rather than skip them.
            await self.routes.wait_current(ROUTES_WAIT_S)
            with self._batch.time():
                plan = plan_deliveries(await self.members(channel), self.routes.users_by_gateway)
            for gateway, recipients in plan.items():
                await self._send(gateway, {"kind": "message", "recipients": recipients,
                                           "event": data})  # fmt: skip
                self._deliveries.inc(len(recipients))
        elif event.type in ("chat.member_joined", "chat.member_left"):
            user = str(data["user"])
            if channel in self._members:
                if event.type == "chat.member_joined":
                    self._members[channel].add(user)
                else:
                    self._members[channel].discard(user)
            kind = "joined" if event.type == "chat.member_joined" else "left"
            for gateway in self.routes.gateways_of(user):
                await self._send(gateway, {"kind": kind, "user": user, "channel": channel,
                                           "last_seq": data["last_seq"]})  # fmt: skip


def create_fanout_app(settings: ChatSettings | None = None) -> FastAPI:
    settings = settings or ChatSettings()

    async def open_resources(app: FastAPI, stack: AsyncExitStack) -> dict[str, ReadinessCheck]:
        checks = await open_backends(app, stack, settings, topics=TOPICS)
        store = ChatStore(app.state.db)
        await store.create_schema()
        inbox = PostgresInbox(app.state.db)
        await inbox.create_table()
        routes = RouteTable(app.state.redis)
        await routes.reload()
        run_until_stopped(stack, routes.follow(reload_every_s=5.0), "route-table")
        app.state.fanout = Fanout(store, app.state.redis, routes, app.state.metrics.registry)
        checks["consumer"] = consume(
            stack,
            settings=settings,
            startup_timeout_s=settings.startup_timeout_s,
            group_id=FANOUT_GROUP,
            topics=(MESSAGES.name,),
            handler=app.state.fanout,
            inbox=inbox,
            dead_letters=app.state.events,
        )
        return checks

    return create_service_app(
        name="chat-fanout",
        settings=settings,
        open_resources=open_resources,
        description="Slack: the channel fanout worker.",
    )
