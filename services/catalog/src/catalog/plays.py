"""Playback events: published to Kafka ``catalog.plays`` keyed by profile, consumed into the
viewing history (Cassandra) and per-region and per-ISP popularity (Redis), which the fill
planner and the rows read.

The consumer dedupes on the event id in Redis (``RedisInbox``): the history write is an
idempotent upsert, and a popularity increment can repeat only if the process dies between it
and the inbox mark, which popularity tolerates.
"""

from datetime import datetime
from typing import Literal

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict, Field

from catalog.filling import ISP_PLAYS_KEY, POPULAR_KEY
from catalog.store import CatalogStore
from stackkit.connections import as_text
from stackkit.events import Event

PLAYS_GROUP = "catalog-history"


class Play(BaseModel):
    model_config = ConfigDict(extra="forbid")
    profile_id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    title_id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    kind: Literal["start", "progress", "stop"]
    position_s: int = Field(ge=0, le=86_400)
    region: str = Field(min_length=1, max_length=32)
    isp: str | None = Field(default=None, min_length=1, max_length=64)
    at: datetime


def as_event(play: Play) -> Event:
    return Event(
        type=f"catalog.play.{play.kind}",
        source="catalog",
        subject=play.profile_id,
        data=play.model_dump(mode="json"),
    )


class PlayConsumer:
    """The handler for ``catalog.plays``: malformed plays raise and go to the dead-letter topic."""

    def __init__(self, store: CatalogStore, redis: "aioredis.Redis") -> None:
        self._store = store
        self._redis = redis

    async def __call__(self, event: Event, tx: "aioredis.Redis") -> None:
        play = Play.model_validate(event.data)
        await self._store.append_history(play.profile_id, play.at, play.title_id, play.position_s)
        if play.kind == "start":
            await self._redis.zincrby(f"{POPULAR_KEY}{play.region}", 1, play.title_id)
            if play.isp:
                await self._redis.zincrby(f"{ISP_PLAYS_KEY}{play.isp}", 1, play.title_id)


async def trending(redis: "aioredis.Redis", region: str, limit: int = 10) -> list[str]:
    titles = await redis.zrevrange(f"{POPULAR_KEY}{region}", 0, limit - 1)
    return [as_text(title) for title in titles if isinstance(title, bytes | str)]
