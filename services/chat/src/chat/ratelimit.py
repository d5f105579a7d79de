"""Web API rate limits."""

import time

import redis.asyncio as aioredis


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
