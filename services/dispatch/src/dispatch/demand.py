"""Live surge per area from Redis: demand as a sliding-window count of trip requests (the
previous window weighted by how much of it still overlaps, as Cloudflare's rate limiter does),
supply as the fresh available drivers in the area's cells, and the smoothed level kept between
recomputations. Quotes are remembered for a while so a trip keeps the multiplier it was quoted.
"""

import json
import secrets
import time

import h3
import redis.asyncio as aioredis

from dispatch.domain.geo import Point
from dispatch.domain.search import INDEX_RESOLUTION
from dispatch.domain.surge import SURGE_RESOLUTION, Quote, quote, surge_level, surge_multiplier
from dispatch.locations import CELL_KEY

WINDOW_S = 60
RECOMPUTE_S = 10
QUOTE_TTL_S = 120

_SUPPLY = """
local total = 0
for i = 2, #ARGV do total = total + redis.call('ZCOUNT', KEYS[1] .. ARGV[i], ARGV[1], '+inf') end
return total
"""


def surge_cell(point: Point) -> str:
    return str(h3.latlng_to_cell(point.lat, point.lng, SURGE_RESOLUTION))


class SurgeBoard:
    def __init__(
        self, redis: "aioredis.Redis", *, stale_after_s: float, recompute_s: float = RECOMPUTE_S
    ) -> None:
        self._redis = redis
        self._recompute_s = recompute_s
        self._stale_after_ms = int(stale_after_s * 1000)
        self._supply = redis.register_script(_SUPPLY)

    async def record_request(self, pickup: Point) -> None:
        window = int(time.time()) // WINDOW_S
        key = f"dispatch:demand:{surge_cell(pickup)}:{window}"
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, WINDOW_S * 2)
            await pipe.execute()

    async def _demand(self, cell: str) -> float:
        now = time.time()
        window = int(now) // WINDOW_S
        current, previous = await self._redis.mget(
            f"dispatch:demand:{cell}:{window}", f"dispatch:demand:{cell}:{window - 1}"
        )
        overlap = 1 - (now % WINDOW_S) / WINDOW_S
        return int(current or 0) + int(previous or 0) * overlap

    async def _available(self, cell: str) -> int:
        children = h3.cell_to_children(cell, INDEX_RESOLUTION)
        freshest = int(time.time() * 1000) - self._stale_after_ms
        count = await self._supply(keys=[CELL_KEY], args=[freshest, *children])
        return int(count)

    async def multiplier(self, point: Point) -> float:
        cell = surge_cell(point)
        key = f"dispatch:surge:{cell}"
        stored = await self._redis.hmget(key, "level", "at")
        level = float(stored[0]) if stored[0] is not None else 1.0
        if stored[1] is None or time.time() - float(stored[1]) >= self._recompute_s:
            demand = await self._demand(cell)
            level = surge_level(round(demand), await self._available(cell), level)
            await self._redis.hset(key, mapping={"level": level, "at": time.time()})
            await self._redis.expire(key, 3600)
        return surge_multiplier(level)

    async def quote(self, pickup: Point, dropoff: Point) -> tuple[str, Quote]:
        priced = quote(pickup, dropoff, await self.multiplier(pickup))
        quote_id = f"quote_{secrets.token_hex(8)}"
        payload = {"pickup": [pickup.lat, pickup.lng], "dropoff": [dropoff.lat, dropoff.lng],
                   "multiplier": priced.multiplier}  # fmt: skip
        await self._redis.set(f"dispatch:quote:{quote_id}", json.dumps(payload), ex=QUOTE_TTL_S)
        return quote_id, priced

    async def quoted_multiplier(self, quote_id: str, pickup: Point) -> float | None:
        """The multiplier a still-valid quote for this pickup promised, else ``None``."""
        raw = await self._redis.get(f"dispatch:quote:{quote_id}")
        if raw is None:
            return None
        saved = json.loads(raw)
        if saved["pickup"] != [pickup.lat, pickup.lng]:
            return None
        return float(saved["multiplier"])
