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
from chat.events import EVENTS, MESSAGES, TOPICS, MemberJoined, MembershipChanged, MessagePosted
from chat.routes import GATEWAY_CHANNEL, RouteTable
from chat.settings import ChatSettings
from chat.store import ChatStore
from stackkit.consumer import consume
from stackkit.events import Event, UnknownEventType
from stackkit.inbox import PostgresInbox, PostgresTx
from stackkit.lifespan import backends
from stackkit.logs import get_logger
from stackkit.periodic import run_until_stopped
from stackkit.service import ReadinessCheck, create_service_app

log = get_logger(__name__)
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
        try:
            data = EVENTS.parse(event)
        except UnknownEventType:
            # Not a kind the fanout delivers (a newer producer's): nothing to send, as before
            # typed events; a malformed known kind still fails and is dead-lettered.
            log.warning("fanout_skipped_event", event_type=event.type, event_id=event.id)
            return
        match data:
            case MessagePosted():
                await self._deliver(data)
            case MembershipChanged():
                await self._membership_changed(data)

    async def _deliver(self, message: MessagePosted) -> None:
        # After a Redis outage the table may lack users who connected meanwhile: wait
        # (briefly) until it follows Redis again rather than skip them.
        await self.routes.wait_current(ROUTES_WAIT_S)
        with self._batch.time():
            members = await self.members(message.channel)
            plan = plan_deliveries(members, self.routes.users_by_gateway)
        event = message.model_dump(mode="json")
        for gateway, recipients in plan.items():
            await self._send(gateway, {"kind": "message", "recipients": recipients,
                                       "event": event})  # fmt: skip
            self._deliveries.inc(len(recipients))

    async def _membership_changed(self, change: MembershipChanged) -> None:
        joined = isinstance(change, MemberJoined)
        if change.channel in self._members:
            if joined:
                self._members[change.channel].add(change.user)
            else:
                self._members[change.channel].discard(change.user)
        for gateway in self.routes.gateways_of(change.user):
            await self._send(gateway, {"kind": "joined" if joined else "left",
                                       "user": change.user, "channel": change.channel,
                                       "last_seq": change.last_seq})  # fmt: skip


async def open_fanout(app: FastAPI, stack: AsyncExitStack) -> dict[str, ReadinessCheck]:
    """The fanout over the store and the route table, fed by its consumer of messages."""
    settings: ChatSettings = app.state.settings
    store = ChatStore(app.state.db)
    await store.create_schema()
    inbox = PostgresInbox(app.state.db)
    await inbox.create_table()
    routes = RouteTable(app.state.redis)
    await routes.reload()
    run_until_stopped(stack, routes.follow(reload_every_s=5.0), "route-table")
    app.state.fanout = Fanout(store, app.state.redis, routes, app.state.metrics.registry)
    consumer = consume(
        stack,
        settings=settings,
        group_id=FANOUT_GROUP,
        topics=(MESSAGES.name,),
        handler=app.state.fanout,
        inbox=inbox,
        dead_letters=app.state.events,
    )
    return {"consumer": consumer}


def create_fanout_app(settings: ChatSettings | None = None) -> FastAPI:
    return create_service_app(
        name="chat-fanout",
        settings=settings or ChatSettings(),
        lifespan_parts=(backends(TOPICS), open_fanout),
        description="Slack: the channel fanout worker.",
    )
