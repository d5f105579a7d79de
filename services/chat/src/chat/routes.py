"""Which users each gateway holds, shared through Redis: both sides of it.

A gateway (:class:`GatewayRoutes`) records its users in the set ``chat:routes:<gateway>`` and
announces each change on the pub/sub channel ``chat:routes`` (a :class:`RouteChange`); it
refreshes its entry in ``chat:gateways`` (scored by expiry) while alive. The fanout
(:class:`RouteTable`) keeps the whole table in memory: a full reload on start and every few
seconds, the announcements in between, and a dead gateway's users drop out when its entry
expires.
"""

import asyncio
import contextlib
import time
from collections.abc import Collection
from dataclasses import dataclass

import redis.asyncio as aioredis

from stackkit.connections import as_text
from stackkit.logs import get_logger

ROUTES_KEY = "chat:routes:"
ROUTES_CHANNEL = "chat:routes"
GATEWAYS_KEY = "chat:gateways"
GATEWAY_CHANNEL = "chat:gateway:"  # + gateway id: the fanout's deliveries to it
PRESENCE_CHANNEL = "chat:presence"
GATEWAY_TTL_S = 6.0
"""A gateway's entry in ``chat:gateways`` lapses this long after its last announcement."""

log = get_logger(__name__)


async def live_gateways(redis: "aioredis.Redis") -> list[str]:
    found = await redis.zrangebyscore(GATEWAYS_KEY, time.time(), "+inf")
    return [as_text(g) for g in found if isinstance(g, bytes | str)]


@dataclass(frozen=True)
class RouteChange:
    """One announcement on ``chat:routes``: ``+<gateway> <user>`` (the gateway holds the user
    now) or ``-<gateway> <user>`` (no longer)."""

    held: bool
    gateway: str
    user: str

    def encode(self) -> str:
        return f"{'+' if self.held else '-'}{self.gateway} {self.user}"

    @classmethod
    def decode(cls, raw: str) -> "RouteChange | None":
        """None for anything but a ``+`` or ``-`` announcement."""
        sign, gateway_and_user = raw[:1], raw[1:]
        if sign not in ("+", "-"):
            return None
        gateway, _, user = gateway_and_user.partition(" ")
        return cls(sign == "+", gateway, user)


class GatewayRoutes:
    """One gateway's side: the users it holds, recorded and announced as they come and go."""

    def __init__(self, redis: "aioredis.Redis", gateway: str) -> None:
        self._redis = redis
        self.gateway = gateway

    async def reset(self) -> None:
        """On start: a restarted gateway holds nobody yet."""
        await self._redis.delete(ROUTES_KEY + self.gateway)

    async def held(self, user: str) -> None:
        """The user's first connection here opened."""
        await self._redis.sadd(ROUTES_KEY + self.gateway, user)
        await self._redis.publish(ROUTES_CHANNEL, RouteChange(True, self.gateway, user).encode())

    async def released(self, user: str) -> None:
        """The user's last connection here closed."""
        await self._redis.srem(ROUTES_KEY + self.gateway, user)
        await self._redis.publish(ROUTES_CHANNEL, RouteChange(False, self.gateway, user).encode())

    async def announce(self, users: Collection[str]) -> None:
        """Refresh this gateway's entry; if Redis lost its routes (a restart without
        persistence), write ``users`` again so the fanout finds the users connected here."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(GATEWAYS_KEY, {self.gateway: time.time() + GATEWAY_TTL_S})
            pipe.scard(ROUTES_KEY + self.gateway)
            _, held = await pipe.execute()
        if held == 0 and users:
            await self._redis.sadd(ROUTES_KEY + self.gateway, *users)
            log.warning("gateway_routes_restored", users=len(users))


class RouteTable:
    """The fanout's side: every live gateway's users, in memory."""

    def __init__(self, redis: "aioredis.Redis") -> None:
        self._redis = redis
        self.users_by_gateway: dict[str, set[str]] = {}
        self.current = asyncio.Event()
        """Set while the table follows Redis; clear while it may be missing announcements."""

    async def reload(self) -> None:
        table = {}
        for gateway in await live_gateways(self._redis):
            users = await self._redis.smembers(ROUTES_KEY + gateway)
            table[gateway] = {as_text(u) for u in users}
        self.users_by_gateway = table

    def apply(self, raw: str) -> None:
        """An announcement from ``chat:routes`` (see :class:`RouteChange`)."""
        change = RouteChange.decode(raw)
        if change is None:
            return
        if change.held:
            self.users_by_gateway.setdefault(change.gateway, set()).add(change.user)
        else:
            self.users_by_gateway.get(change.gateway, set()).discard(change.user)

    async def wait_current(self, timeout_s: float) -> None:
        """Until the table follows Redis again (at once when it does); gives up after
        ``timeout_s`` rather than hold deliveries back for ever."""
        if not self.current.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.current.wait(), timeout_s)

    def gateways_of(self, user: str) -> list[str]:
        return [g for g, users in self.users_by_gateway.items() if user in users]

    async def follow(self, reload_every_s: float) -> None:
        """Keep the table current until cancelled."""
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(ROUTES_CHANNEL)
                    await self.reload()
                    self.current.set()
                    next_reload = time.monotonic() + reload_every_s
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=reload_every_s
                        )
                        if message is not None:
                            self.apply(as_text(message["data"]))
                        if time.monotonic() >= next_reload:
                            await self.reload()
                            next_reload = time.monotonic() + reload_every_s
            except asyncio.CancelledError:
                raise
            except Exception:
                self.current.clear()
                log.exception("route_table_follow_failed")
                await asyncio.sleep(0.2)
