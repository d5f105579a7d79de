"""The location index in Redis: drivers by H3 cell, written with pipelined Lua, read ring by ring.

Keys (one prefix per service): ``dispatch:driver:<id>`` is a hash (lat, lng, status, cell, ts);
``dispatch:cell:<h3>`` is a sorted set of the *available* drivers in that cell scored by their
last ping (ms), so stale drivers fall out of reads by score without a sweep.

Beside the cells, in the same script call, ``dispatch:geo`` (a geo set) holds the available
drivers' positions and ``dispatch:geo:polar`` those too near a pole for a geo set: always kept,
so the ``dispatch.search`` switch can move reads to GEOSEARCH (or to a scan of every driver's
hash) at run time. Freshness is read from the hash, as the cells' scores say it.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, Histogram

from dispatch.domain.geo import Point
from dispatch.domain.search import (
    GEO_MAX_LAT,
    GEO_SLACK_M,
    Candidate,
    Nearby,
    SearchMode,
    SearchTally,
    cell_of,
    geo_query,
    nearest,
    ring_search,
)
from stackkit import flags, tracing
from stackkit.connections import as_text
from stackkit.metrics import LATENCY_BUCKETS

DRIVER_KEY = "dispatch:driver:"
CELL_KEY = "dispatch:cell:"
GEO_KEY = "dispatch:geo"
POLAR_KEY = "dispatch:geo:polar"
SCAN_PAGE = 1000
"""Keys per SCAN call (and hashes per pipelined read) of a full scan."""

# Where an available driver's position goes besides its cell: the geo set, or (past the
# latitude a geo set can hold) the polar set. KEYS[3] geo, KEYS[4] polar; ARGV id, lat, lng.
_GEO_PLACE = f"""
local function geo_place(id, lat, lng)
  if math.abs(tonumber(lat)) <= {GEO_MAX_LAT} then
    redis.call('GEOADD', KEYS[3], lng, lat, id)
    redis.call('SREM', KEYS[4], id)
  else
    redis.call('ZREM', KEYS[3], id)
    redis.call('SADD', KEYS[4], id)
  end
end
local function geo_remove(id)
  redis.call('ZREM', KEYS[3], id)
  redis.call('SREM', KEYS[4], id)
end
"""

# Moves a driver between cells atomically and ignores pings older than the one stored
# (batches arrive out of order).
_UPDATE = (
    _GEO_PLACE
    + """
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
  geo_place(ARGV[1], ARGV[2], ARGV[3])
else
  redis.call('ZREM', KEYS[2] .. ARGV[5], ARGV[1])
  geo_remove(ARGV[1])
end
return 1
"""
)

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
_STATUS = (
    _GEO_PLACE
    + """
local key = KEYS[1] .. ARGV[1]
local stored = redis.call('HMGET', key, 'cell', 'lat', 'lng')
local cell = stored[1]
if not cell then return 0 end
redis.call('HSET', key, 'status', ARGV[2], 'ts', ARGV[3])
if ARGV[2] == 'available' then
  redis.call('ZADD', KEYS[2] .. cell, ARGV[3], ARGV[1])
  geo_place(ARGV[1], stored[2], stored[3])
else
  redis.call('ZREM', KEYS[2] .. cell, ARGV[1])
  geo_remove(ARGV[1])
end
return 1
"""
)

# The fresh available drivers GEOSEARCH finds, nearest first, with their exact positions
# (the hash's, not the geo set's rounded ones). KEYS[1] geo, KEYS[2] polar, KEYS[3] driver
# prefix; ARGV lng, lat, radius (Redis's metres), freshest ts, limit, ranked, polar.
# When ranked, reading stops a slack past the limit-th fresh driver: nobody further can be
# nearer by our distance. COUNT grows until the reply is not cut short by it.
_GEO = f"""
local function fresh(id, out)
  local pos = redis.call('HMGET', KEYS[3] .. id, 'lat', 'lng', 'status', 'ts')
  if not pos[1] then
    -- Its hash expired (silent past the retention): it leaves the sets as it is met.
    redis.call('ZREM', KEYS[1], id)
    redis.call('SREM', KEYS[2], id)
    return false
  end
  if pos[3] == 'available' and tonumber(pos[4]) >= tonumber(ARGV[4]) then
    out[#out + 1] = id
    out[#out + 1] = pos[1]
    out[#out + 1] = pos[2]
    return true
  end
  return false
end
local limit = tonumber(ARGV[5])
local count = limit * 2 + 16
local out
while true do
  out = {{}}
  local hits = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', ARGV[1], ARGV[2],
                          'BYRADIUS', ARGV[3], 'm', 'ASC', 'COUNT', count, 'WITHDIST')
  local kept, cutoff = 0, nil
  for _, hit in ipairs(hits) do
    local distance = tonumber(hit[2])
    if cutoff and distance > cutoff then break end
    if fresh(hit[1], out) then
      kept = kept + 1
      if ARGV[6] == '1' and kept == limit then cutoff = distance + 2 * {GEO_SLACK_M} end
    end
  end
  if cutoff or #hits < count then break end
  count = count * 4
end
if ARGV[7] == '1' then
  for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do fresh(id, out) end
end
return out
"""


@dataclass
class SearchMetrics:
    """How long one nearby search takes, how far it read and how many drivers it ranked, by
    the mode that served it."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.seconds = Histogram(
            "dispatch_nearby_seconds",
            "One nearby-drivers search, by how it searched (the dispatch.search switch)",
            ["search"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rings = Histogram(
            "dispatch_nearby_rings",
            "H3 rings read around the origin's cell per nearby search (0 for the modes that"
            " read no rings)",
            ["search"],
            buckets=(0, 1, 2, 3, 4, 5, 8, 13),
            registry=self.registry,
        )
        self.candidates = Histogram(
            "dispatch_nearby_candidates",
            "Fresh available drivers read and ranked per nearby search",
            ["search"],
            buckets=(0, 1, 5, 10, 25, 50, 100, 500, 1000, 10000),
            registry=self.registry,
        )

    def observe(self, mode: SearchMode, seconds: float, tally: SearchTally) -> None:
        self.seconds.labels(mode.value).observe(seconds)
        self.rings.labels(mode.value).observe(tally.rings)
        self.candidates.labels(mode.value).observe(tally.candidates)


def search_mode() -> SearchMode:
    """The ``dispatch.search`` switch now (read per search: a flip applies to the next one)."""
    return SearchMode(flags.choice("dispatch.search"))


@dataclass(frozen=True)
class LocationUpdate:
    driver_id: str
    point: Point
    status: str
    ts_ms: int


class LocationIndex:
    def __init__(
        self,
        redis: "aioredis.Redis",
        *,
        stale_after_s: float,
        retain_s: float = 3600,
        metrics: SearchMetrics | None = None,
    ) -> None:
        self._redis = redis
        self._stale_after_ms = int(stale_after_s * 1000)
        self._retain_ms = int(retain_s * 1000)
        self._metrics = metrics or SearchMetrics()
        self._update = redis.register_script(_UPDATE)
        self._ring = redis.register_script(_RING)
        self._status = redis.register_script(_STATUS)
        self._geo = redis.register_script(_GEO)

    async def update(self, updates: Sequence[LocationUpdate]) -> int:
        """Apply a batch in one pipelined round trip; returns how many were newer than stored."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for u in updates:
                await self._update(
                    keys=[DRIVER_KEY, CELL_KEY, GEO_KEY, POLAR_KEY],
                    args=[u.driver_id, repr(u.point.lat), repr(u.point.lng), u.status,
                          cell_of(u.point), u.ts_ms, self._retain_ms],
                    client=pipe,
                )  # fmt: skip
            results = await pipe.execute()
        return sum(int(r) for r in results)

    async def set_status(self, driver_id: str, status: str) -> bool:
        now_ms = int(time.time() * 1000)
        changed = await self._status(
            keys=[DRIVER_KEY, CELL_KEY, GEO_KEY, POLAR_KEY], args=[driver_id, status, now_ms]
        )
        return bool(changed)

    async def driver(self, driver_id: str) -> dict[str, str] | None:
        raw = await self._redis.hgetall(f"{DRIVER_KEY}{driver_id}")
        return {as_text(k): as_text(v) for k, v in raw.items()} or None

    async def nearby(
        self,
        origin: Point,
        radius_m: float,
        limit: int,
        now_ms: int,
        mode: SearchMode | None = None,
    ) -> list[Nearby]:
        """The nearest fresh available drivers, nearest first, found as ``mode`` says (by
        default the ``dispatch.search`` switch): every mode gives the same answer."""
        mode = mode or search_mode()
        tally = SearchTally()
        attributes = {"dispatch.search": mode.value, "dispatch.nearby.radius_m": radius_m}
        with tracing.span("dispatch.nearby", attributes=attributes):
            started = time.perf_counter()
            freshest = now_ms - self._stale_after_ms
            if mode is SearchMode.GEOSEARCH:
                found = await self._geosearch(origin, radius_m, limit, freshest, tally)
            elif mode is SearchMode.FULL_SCAN:
                found = await self._full_scan(origin, radius_m, limit, freshest, tally)
            else:
                found = await self._rings(origin, radius_m, limit, freshest, tally)
            self._metrics.observe(mode, time.perf_counter() - started, tally)
            tracing.set_attribute("dispatch.nearby.rings", tally.rings)
            tracing.set_attribute("dispatch.nearby.candidates", tally.candidates)
            tracing.set_attribute("dispatch.nearby.found", len(found))
        return found

    async def _rings(
        self, origin: Point, radius_m: float, limit: int, freshest: int, tally: SearchTally
    ) -> list[Nearby]:
        """Rings outward from the origin's cell (the seed's way)."""
        search = ring_search(origin, radius_m, limit, tally)
        cells = next(search)
        while True:
            flat = await self._ring(keys=[CELL_KEY, DRIVER_KEY], args=[freshest, *cells])
            found = _candidates(flat)
            try:
                cells = search.send(found)
            except StopIteration as done:
                result: list[Nearby] = done.value
                return result

    async def _geosearch(
        self, origin: Point, radius_m: float, limit: int, freshest: int, tally: SearchTally
    ) -> list[Nearby]:
        """GEOSEARCH over the geo set (and the polar set when the circle reaches it)."""
        query = geo_query(origin, radius_m)
        flat = await self._geo(
            keys=[GEO_KEY, POLAR_KEY, DRIVER_KEY],
            args=[repr(query.centre.lng), repr(query.centre.lat), repr(query.radius_m),
                  freshest, limit, int(query.ranked), int(query.polar)],
        )  # fmt: skip
        candidates = _candidates(flat)
        tally.candidates = len(candidates)
        return nearest(candidates, origin, radius_m, limit)

    async def _full_scan(
        self, origin: Point, radius_m: float, limit: int, freshest: int, tally: SearchTally
    ) -> list[Nearby]:
        """Every driver's hash, page by page (SCAN, then one pipelined read per page)."""
        candidates: list[Candidate] = []
        cursor = 0
        while True:
            cursor, keys = await self._redis.scan(cursor, match=f"{DRIVER_KEY}*", count=SCAN_PAGE)
            if keys:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for key in keys:
                        pipe.hmget(key, "lat", "lng", "status", "ts")
                    rows = await pipe.execute()
                for key, (lat, lng, status, ts) in zip(keys, rows, strict=True):
                    if lat is not None and as_text(status) == "available" and int(ts) >= freshest:
                        driver_id = as_text(key)[len(DRIVER_KEY) :]
                        candidates.append(Candidate(driver_id, Point(float(lat), float(lng))))
            if cursor == 0:
                tally.candidates = len(candidates)
                return nearest(candidates, origin, radius_m, limit)


def _candidates(flat: list[bytes | str]) -> list[Candidate]:
    """A script's flat ``id, lat, lng, id, lat, lng...`` reply."""
    return [
        Candidate(as_text(flat[i]), Point(float(flat[i + 1]), float(flat[i + 2])))
        for i in range(0, len(flat), 3)
    ]
