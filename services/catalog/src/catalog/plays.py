"""Playback events: published to Kafka ``catalog.plays`` keyed by profile, consumed into the
viewing history (Cassandra) and per-region and per-ISP popularity (Redis), which the fill
planner and the rows read.

The consumer dedupes on the event id in Redis (``RedisInbox``): the history write is an
idempotent upsert, and a popularity increment can repeat only if the process dies between it
and the inbox mark, which popularity tolerates.
"""

import redis.asyncio as aioredis

from catalog import popularity
from catalog.events import EVENTS, Play
from catalog.store import CatalogStore
from stackkit.events import Event

PLAYS_GROUP = "catalog-history"


class PlayConsumer:
    """The handler for ``catalog.plays``: malformed plays raise and go to the dead-letter topic."""

    def __init__(self, store: CatalogStore, redis: "aioredis.Redis") -> None:
        self._store = store
        self._redis = redis

    async def __call__(self, event: Event, tx: "aioredis.Redis") -> None:
        match EVENTS.parse(event):
            case Play() as play:
                await self._store.append_history(
                    play.profile_id, play.at, play.title_id, play.position_s
                )
                if play.kind == "start":
                    await popularity.count_start(self._redis, play.title_id, play.region, play.isp)
