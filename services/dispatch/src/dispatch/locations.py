"""The location index in Redis: drivers by H3 cell, written with pipelined Lua, read ring by ring.

Keys (one prefix per service): ``dispatch:driver:<id>`` is a hash (lat, lng, status, cell, ts);
``dispatch:cell:<h3>`` is a sorted set of the *available* drivers in that cell scored by their
last ping (ms), so stale drivers fall out of reads by score without a sweep.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from dispatch.domain.geo import Point
from dispatch.domain.search import Candidate, Nearby, cell_of, ring_search
from stackkit.connections import as_text

DRIVER_KEY = "dispatch:driver:"
CELL_KEY = "dispatch:cell:"

# Moves a driver between cells atomically and ignores pings older than the one stored
# (batches arrive out of order).
_UPDATE = """
local key = KEYS[1] .. ARGV[1]
local stored = redis.call('HGET', key, 'ts')
if stored and tonumber(stored) > tonumber(ARGV[6]) then return 0 end
local old = redis.call('HGET', key, 'cell')
if old and old ~= ARGV[5] then redis.call('ZREM', KEYS[2] .. old, ARGV[1]) end
redis.call('HSET', key, 'lat', ARGV[2], 'lng', ARGV[3], 'status', ARGV[4],
           'cell', ARGV[5], 'ts', ARGV[6])
redis.call('PEXPIRE', key, ARGV[7])
if ARGV[4] == 'available' then
  redis.call('ZADD', KEYS[2] .. ARGV[5], ARGV[6], ARGV[1])
else
  redis.call('ZREM', KEYS[2] .. ARGV[5], ARGV[1])
end
return 1
"""

# One round trip per ring: the fresh available drivers of every cell, with their positions.
_RING = """
local out = {}
for i = 2, #ARGV do
  local ids = redis.call('ZRANGEBYSCORE', KEYS[1] .. ARGV[i], ARGV[1], '+inf')
  for _, id in ipairs(ids) do
    local pos = redis.call('HMGET', KEYS[2] .. id, 'lat', 'lng', 'status')
    if pos[1] and pos[3] == 'available' then
      out[#out + 1] = id
      out[#out + 1] = pos[1]
      out[#out + 1] = pos[2]
    end
  end
end
return out
"""


# A driver's status changes without a new position (accepting or finishing a trip).
_STATUS = """
local key = KEYS[1] .. ARGV[1]
local cell = redis.call('HGET', key, 'cell')
if not cell then return 0 end
redis.call('HSET', key, 'status', ARGV[2], 'ts', ARGV[3])
if ARGV[2] == 'available' then
  redis.call('ZADD', KEYS[2] .. cell, ARGV[3], ARGV[1])
else
  redis.call('ZREM', KEYS[2] .. cell, ARGV[1])
end
return 1
"""


@dataclass(frozen=True)
class LocationUpdate:
    driver_id: str
    point: Point
    status: str
    ts_ms: int


class LocationIndex:
    def __init__(
        self, redis: "aioredis.Redis", *, stale_after_s: float, retain_s: float = 3600
    ) -> None:
        self._redis = redis
        self._stale_after_ms = int(stale_after_s * 1000)
        self._retain_ms = int(retain_s * 1000)
        self._update = redis.register_script(_UPDATE)
        self._ring = redis.register_script(_RING)
        self._status = redis.register_script(_STATUS)

    async def update(self, updates: Sequence[LocationUpdate]) -> int:
        """Apply a batch in one pipelined round trip; returns how many were newer than stored."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for u in updates:
                await self._update(
                    keys=[DRIVER_KEY, CELL_KEY],
                    args=[u.driver_id, repr(u.point.lat), repr(u.point.lng), u.status,
                          cell_of(u.point), u.ts_ms, self._retain_ms],
                    client=pipe,
                )  # fmt: skip
            results = await pipe.execute()
        return sum(int(r) for r in results)

    async def set_status(self, driver_id: str, status: str) -> bool:
        now_ms = int(time.time() * 1000)
        changed = await self._status(keys=[DRIVER_KEY, CELL_KEY], args=[driver_id, status, now_ms])
        return bool(changed)

    async def driver(self, driver_id: str) -> dict[str, str] | None:
        raw = await self._redis.hgetall(f"{DRIVER_KEY}{driver_id}")
        return {as_text(k): as_text(v) for k, v in raw.items()} or None

    async def nearby(self, origin: Point, radius_m: float, limit: int, now_ms: int) -> list[Nearby]:
        """The nearest fresh available drivers, searching rings outward from the origin's cell."""
        freshest = now_ms - self._stale_after_ms
        search = ring_search(origin, radius_m, limit)
        cells = next(search)
        while True:
            flat = await self._ring(keys=[CELL_KEY, DRIVER_KEY], args=[freshest, *cells])
            found = [
                Candidate(as_text(flat[i]), Point(float(flat[i + 1]), float(flat[i + 2])))
                for i in range(0, len(flat), 3)
            ]
            try:
                cells = search.send(found)
            except StopIteration as done:
                result: list[Nearby] = done.value
                return result
