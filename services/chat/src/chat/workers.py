"""The fanout worker: turns one channel message on Kafka into one batch per gateway.

``chat.messages`` is keyed by channel, so a channel's messages and membership changes arrive
in order. Membership is cached per channel and updated by those very events; the users each
gateway holds come from the route table; recipients are the intersection, grouped by gateway,
and each gateway gets one Redis pub/sub message for the whole batch.

Two run-time flags reach it: ``chat.fanout`` (``per_member``: one pub/sub message per
recipient instead, the design Slack avoids) and ``chat.fanoutStall`` (while on, the handler
holds the consumer loop: nothing is handed to gateways and no offset is committed, so the
backlog is delivered, in order, once it is off). Each batch carries its message's
``traceparent`` (pub/sub has no headers) and its event's time, for the gateway's spans and
its delivery latency.
"""

from contextlib import AsyncExitStack
from typing import Any

import orjson
import redis.asyncio as aioredis
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram

from chat.domain.fanout import FanoutMode, handoffs, plan_deliveries
from chat.events import EVENTS, MESSAGES, TOPICS, MemberJoined, MembershipChanged, MessagePosted
from chat.routes import GATEWAY_CHANNEL, RouteTable
from chat.settings import ChatSettings
from chat.store import ChatStore
from stackkit import flags, tracing
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
STALL_FLAG = "chat.fanoutStall"
RECIPIENT_BUCKETS = (1, 10, 100, 1000, 10000, 100000)
MODES: dict[str, FanoutMode] = {"per_gateway_batch": "per_gateway", "per_member": "per_member"}
"""``chat.fanout``'s variants, by the mode they name in metrics and spans."""


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
        self._recipients = Histogram(
            "chat_fanout_recipients", "Members handed to gateways per message", ["mode"],
            buckets=RECIPIENT_BUCKETS, registry=registry,
        )  # fmt: skip
        self._handoffs = Counter(
            "chat_fanout_handoffs", "Gateway-bound handoffs: batches (per_gateway) or single"
            " deliveries (per_member)", ["mode"], registry=registry,
        )  # fmt: skip

    async def members(self, channel: str) -> set[str]:
        if channel not in self._members:
            if len(self._members) >= MEMBERSHIP_CACHE_SIZE:
                self._members.pop(next(iter(self._members)))
            self._members[channel] = await self._store.all_members(channel)
        return self._members[channel]

    async def _send(self, gateway: str, payload: dict[str, Any]) -> None:
        await self._redis.publish(GATEWAY_CHANNEL + gateway, orjson.dumps(payload))

    async def __call__(self, event: Event, tx: PostgresTx) -> None:
        await self._unless_stalled()
        try:
            data = EVENTS.parse(event)
        except UnknownEventType:
            # Not a kind the fanout delivers (a newer producer's): nothing to send, as before
            # typed events; a malformed known kind still fails and is dead-lettered.
            log.warning("fanout_skipped_event", event_type=event.type, event_id=event.id)
            return
        match data:
            case MessagePosted():
                await self._deliver(data, event)
            case MembershipChanged():
                await self._membership_changed(data)

    async def _unless_stalled(self) -> None:
        """While ``chat.fanoutStall`` is on, hold here: the consumer loop waits with us, so
        nothing is handed on or committed until it is off (cancellable, for a shutdown)."""
        while flags.is_on(STALL_FLAG):
            log.info("fanout_stalled", flag=STALL_FLAG)
            await flags.wait_for_change(STALL_FLAG, True)

    async def _deliver(self, message: MessagePosted, posted: Event) -> None:
        mode = MODES[flags.choice("chat.fanout")]
        # After a Redis outage the table may lack users who connected meanwhile: wait
        # (briefly) until it follows Redis again rather than skip them.
        await self.routes.wait_current(ROUTES_WAIT_S)
        with tracing.span("chat.fanout deliver", attributes={"chat.fanout.mode": mode}):
            with self._batch.time():
                members = await self.members(message.channel)
                plan = plan_deliveries(members, self.routes.users_by_gateway)
            event = message.model_dump(mode="json")
            batch = {"kind": "message", "event": event, "created_at": posted.time.timestamp(),
                     "traceparent": tracing.current_traceparent()}  # fmt: skip
            sent = handoffs(plan, mode)
            for gateway, recipients in sent:
                await self._send(gateway, batch | {"recipients": recipients})
            handed = sum(len(recipients) for recipients in plan.values())
            self._deliveries.inc(handed)
            self._recipients.labels(mode).observe(handed)
            self._handoffs.labels(mode).inc(len(sent))
            tracing.set_attribute("chat.fanout.recipients", handed)
            tracing.set_attribute("chat.fanout.handoffs", len(sent))
            log.info("message_fanned_out", channel=message.channel, seq=message.seq,
                     recipients=handed, handoffs=len(sent), mode=mode)  # fmt: skip

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
