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
