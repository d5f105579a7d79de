"""Delivery on a gateway: carries out each connection's :class:`ConnectionDelivery` (the pure
machine that decides what is written: every message of each channel once, in ``seq`` order,
no gap). It sets the machine up from what the client has, writes the frames it hands out,
reads the ranges it asks for from storage, feeds it the fanout's batches, and catches up once
the fanout surely knows a new connection's route."""

import asyncio
from typing import Any

import orjson
from opentelemetry.trace import SpanKind
from websockets.protocol import State

from chat.domain.delivery import Action, Write
from chat.gateway.connection import Client, Connections, LiveFrame, text_frame
from chat.gateway.metrics import GatewayMetrics
from chat.store import ChatStore
from stackkit import tracing
from stackkit.logs import get_logger

log = get_logger(__name__)
REPLAY_PAGE = 500
ROUTE_SETTLE_S = 2.0  # after a connect, by when every fanout has seen its route (pub/sub: ms)
EMPTY_FETCH_PAUSE_S = 0.1  # a fetch found nothing new yet: a breath before asking again


class Deliveries:
    def __init__(self, store: ChatStore, connections: Connections, metrics: GatewayMetrics):
        self._store = store
        self._connections = connections
        self._metrics = metrics

    async def ready(
        self, client: Client, since: dict[str, int]
    ) -> tuple[dict[str, int], list[Action[bytes]]]:
        """Set the client's machine up from its memberships and what it says it has: (the
        position per channel, for ``hello``; what to do once hello is out)."""
        memberships = await self._store.memberships(client.user.id)
        positions = {channel: (min(since.get(channel, last_seq), last_seq), last_seq)
                     for channel, last_seq in memberships.items()}  # fmt: skip
        actions = client.delivery.ready(positions)
        return {channel: have for channel, (have, _) in positions.items()}, actions

    def act(self, client: Client, actions: list[Action[bytes]], kind: str) -> None:
        """Carry out what the client's delivery machine decided, in order."""
        for action in actions:
            if isinstance(action, Write):
                for frame in action.frames:
                    if client.write(frame):
                        self._metrics.delivered.labels(kind).inc()
            else:
                client.fetches.append(action)
                if client.fetcher is None:
                    client.fetcher = asyncio.create_task(self._fetch_all(client))

    def settle_later(self, client: Client) -> None:
        client.settler = asyncio.create_task(self._settle(client))

    async def _settle(self, client: Client) -> None:
        """Once the fanout knows this connection's route, catch up on what it may have routed
        elsewhere meanwhile (a message committed after ``hello`` read the positions)."""
        await asyncio.sleep(ROUTE_SETTLE_S)
        try:
            last_seqs = await self._store.memberships(client.user.id)
        except Exception:  # storage is away: the next message's gap shows what is missing
            log.warning("settle_check_failed", user=client.user.id)
            return
        if client.ws.state is State.OPEN:
            self.act(client, client.delivery.caught_up(last_seqs), "replay")

    async def _fetch_all(self, client: Client) -> None:
        """Read each requested range from storage and report it to the machine, one at a time
        (a connection never holds more than one of the pool's connections)."""
        try:
            while client.fetches and client.ws.state is State.OPEN:
                fetch = client.fetches.pop(0)
                try:
                    page = await self._store.messages_after(fetch.channel, fetch.after, REPLAY_PAGE)
                except Exception:  # storage is away: the machine still waits for this answer
                    log.exception("replay_fetch_failed", channel=fetch.channel)
                    client.fetches.insert(0, fetch)
                    await asyncio.sleep(1.0)
                    continue
                found = [(m.seq, text_frame(orjson.dumps(m.as_event().model_dump(mode="json"))))
                         for m in page]  # fmt: skip
                self.act(client, client.delivery.fetched(fetch.channel, found), "replay")
                if not page and client.fetches:
                    await asyncio.sleep(EMPTY_FETCH_PAUSE_S)
        finally:
            client.fetcher = None

    def on_batch(self, batch: dict[str, Any]) -> None:
        """A batch from the fanout for the users connected here."""
        kind = batch.get("kind")
        if kind == "message":
            event = batch["event"]
            channel, seq = event["channel"], int(event["seq"])
            recipients = batch["recipients"]
            # Pub/sub carries no headers: the fanout put its message's traceparent in the
            # batch. A batch holds one message, so it continues that trace (and links it, as
            # a batch of several would link each).
            traceparent = batch.get("traceparent")
            attributes = {"chat.channel": channel, "chat.seq": seq,
                          "chat.gateway.recipients": len(recipients)}  # fmt: skip
            with tracing.span("chat.gateway batch", kind=SpanKind.CONSUMER, parent=traceparent,
                              links=[traceparent], attributes=attributes):  # fmt: skip
                frame = text_frame(orjson.dumps(event))
                created_at = batch.get("created_at")
                if isinstance(created_at, int | float):
                    frame = LiveFrame.of(frame, float(created_at))
                with tracing.span("chat.gateway write", attributes={"chat.seq": seq}):
                    for user in recipients:
                        for client in self._connections.of_user(user):
                            self.act(client, client.delivery.live(channel, seq, frame), "live")
        elif kind == "joined":
            for client in self._connections.of_user(batch["user"]):
                client.delivery.joined(batch["channel"], int(batch["last_seq"]))
                client.send_event({"type": "member_joined_channel", "channel": batch["channel"],
                                   "user": batch["user"]})  # fmt: skip
        elif kind == "left":
            for client in self._connections.of_user(batch["user"]):
                client.delivery.left(batch["channel"])
                client.send_event({"type": "channel_left", "channel": batch["channel"]})
