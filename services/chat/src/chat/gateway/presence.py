"""Presence on a gateway: its clients' heartbeats make their users active, silence or a closed
socket away; changes are coalesced, published to every gateway once per flush, and told to the
clients who share a small channel with the changed users or subscribed to them."""

import time

import orjson
import redis.asyncio as aioredis

from chat.domain.presence import Presence, PresenceCoalescer
from chat.gateway.connection import Client, Connections
from chat.presence import connection_alive, connection_gone
from chat.routes import PRESENCE_CHANNEL
from chat.store import ChatStore


class GatewayPresence:
    def __init__(
        self, redis: "aioredis.Redis", store: ChatStore, connections: Connections, *,
        gateway: str, heartbeat_s: float, max_members: int,
    ) -> None:  # fmt: skip
        self._redis = redis
        self._store = store
        self._connections = connections
        self._gateway = gateway
        self._max_members = max_members
        self.ttl_s = heartbeat_s * 2.5
        """A connection silent for longer counts as gone (a few missed heartbeats)."""
        self.coalescer = PresenceCoalescer()

    def _key(self, client: Client) -> str:
        return f"{self._gateway}/{client.id}"

    async def alive(self, client: Client) -> None:
        """The client heartbeated (opening a socket counts as one)."""
        client.last_heartbeat = time.monotonic()
        client.stale = False
        if await connection_alive(self._redis, client.user.id, self._key(client), self.ttl_s):
            self.coalescer.record(client.user.id, "active")

    async def silent(self, client: Client) -> None:
        """The connection closed or stopped heartbeating: its user may be away now."""
        if await connection_gone(self._redis, client.user.id, self._key(client)):
            self.coalescer.record(client.user.id, "away")

    async def flush(self) -> None:
        if changes := self.coalescer.drain():
            await self._redis.publish(PRESENCE_CHANNEL, orjson.dumps(changes))

    async def on_changes(self, changes: dict[str, Presence]) -> None:
        """Tell each local client, in at most two events (active, away), about the changed
        users it shares a small channel with or subscribed to."""
        if not self._connections:
            return
        by_channel = await self._store.peers_in_small_channels(list(changes), self._max_members)
        for client in self._connections.snapshot():
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
        for client in self._connections.snapshot():
            if not client.stale and now - client.last_heartbeat > self.ttl_s:
                client.stale = True
                await self.silent(client)
