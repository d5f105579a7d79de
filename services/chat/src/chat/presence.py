"""Presence in Redis: a sorted set per user of its live connections, each scored by when its
last heartbeat expires. A user is ``active`` while any connection is fresh, ``away`` otherwise,
so a gateway that dies without saying goodbye only keeps its users active until the TTL."""

import time

import redis.asyncio as aioredis

from chat.domain.presence import Presence

PRESENCE_KEY = "chat:presence:"


async def presence_of(redis: "aioredis.Redis", user: str) -> Presence:
    fresh = await redis.zcount(PRESENCE_KEY + user, time.time(), "+inf")
    return "active" if fresh else "away"


async def connection_alive(
    redis: "aioredis.Redis", user: str, connection: str, ttl_s: float
) -> bool:
    """A connection opened or sent a heartbeat; True if the user was away before."""
    now = time.time()
    key = PRESENCE_KEY + user
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zcard(key)
        pipe.zadd(key, {connection: now + ttl_s})
        pipe.expire(key, int(ttl_s) + 1)
        _, before, _, _ = await pipe.execute()
    return int(before) == 0


async def connection_gone(redis: "aioredis.Redis", user: str, connection: str) -> bool:
    """A connection closed; True if the user is now away."""
    now = time.time()
    key = PRESENCE_KEY + user
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zrem(key, connection)
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zcard(key)
        _, _, after = await pipe.execute()
    return int(after) == 0


class RateLimiter:
    """Slack-style per-method limits per user: a fixed one-second window counter in Redis."""

    def __init__(self, redis: "aioredis.Redis", per_second: dict[str, int], default: int) -> None:
        self._redis = redis
        self._per_second = per_second
        self._default = default

    async def exceeded(self, user: str, method: str) -> bool:
        key = f"chat:rate:{user}:{method}:{int(time.time())}"
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, 2)
            count, _ = await pipe.execute()
        return int(count) > self._per_second.get(method, self._default)
