"""Which users each gateway holds, shared through Redis.

A gateway records its users in the set ``chat:routes:<gateway>`` and announces each change on
the pub/sub channel ``chat:routes``; it refreshes its entry in ``chat:gateways`` (scored by
expiry) while alive. The fanout keeps the whole table in memory: a full reload on start and
every few seconds, the announcements in between, and a dead gateway's users drop out when its
entry expires.
"""

import asyncio
import contextlib
import time

import redis.asyncio as aioredis

from stackkit.connections import as_text
from stackkit.logs import get_logger

ROUTES_KEY = "chat:routes:"
ROUTES_CHANNEL = "chat:routes"
GATEWAYS_KEY = "chat:gateways"
GATEWAY_CHANNEL = "chat:gateway:"  # + gateway id: the fanout's deliveries to it
PRESENCE_CHANNEL = "chat:presence"

log = get_logger(__name__)


async def live_gateways(redis: "aioredis.Redis") -> list[str]:
    found = await redis.zrangebyscore(GATEWAYS_KEY, time.time(), "+inf")
    return [as_text(g) for g in found if isinstance(g, bytes | str)]


class RouteTable:
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

    def apply(self, change: str) -> None:
        """``+<gateway> <user>`` or ``-<gateway> <user>``."""
        sign, gateway_and_user = change[:1], change[1:]
        gateway, _, user = gateway_and_user.partition(" ")
        if sign == "+":
            self.users_by_gateway.setdefault(gateway, set()).add(user)
        elif sign == "-":
            self.users_by_gateway.get(gateway, set()).discard(user)

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
