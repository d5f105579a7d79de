"""Live popularity in Redis: playback starts per title, by region and by ISP. The plays
consumer counts them; the fill planner and the home rows read them. The keys are this
module's alone (one sorted set per region and per ISP: title -> starts)."""

import redis.asyncio as aioredis

from stackkit.connections import as_text

_BY_REGION = "catalog:popular:"
_BY_ISP = "catalog:isp-plays:"


async def count_start(redis: "aioredis.Redis", title_id: str, region: str, isp: str | None) -> None:
    await redis.zincrby(f"{_BY_REGION}{region}", 1, title_id)
    if isp:
        await redis.zincrby(f"{_BY_ISP}{isp}", 1, title_id)


async def _counts(redis: "aioredis.Redis", key: str) -> dict[str, float]:
    pairs = await redis.zrange(key, 0, -1, withscores=True)
    return {as_text(pair[0]): float(pair[1]) for pair in pairs if isinstance(pair, tuple)}


async def region_starts(redis: "aioredis.Redis", region: str) -> dict[str, float]:
    """title -> playback starts counted in ``region``."""
    return await _counts(redis, f"{_BY_REGION}{region}")


async def isp_starts(redis: "aioredis.Redis", isp: str) -> dict[str, float]:
    """title -> playback starts counted from clients of ``isp``."""
    return await _counts(redis, f"{_BY_ISP}{isp}")


async def trending(redis: "aioredis.Redis", region: str, limit: int = 10) -> list[str]:
    """The region's most started titles, most first."""
    titles = await redis.zrevrange(f"{_BY_REGION}{region}", 0, limit - 1)
    return [as_text(title) for title in titles if isinstance(title, bytes | str)]
