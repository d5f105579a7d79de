"""Titles through the zoned cache, and viewing history as wide rows on Cassandra."""

import hashlib
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated

import orjson
import redis.asyncio as aioredis
from fastapi import APIRouter, Header, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from catalog.domain.fleet import Appliance
from catalog.domain.ladder import DeviceProfile, ladder, manifest
from catalog.domain.steering import Client, steer
from catalog.evcache import ZonedCache
from catalog.events import EVENTS, ID, PLAYS, Play
from catalog.filling import FillPlanner, FillReport
from catalog.metrics import CatalogMetrics
from catalog.popularity import trending
from catalog.rows import build_rows
from catalog.store import CatalogStore
from catalog.topology import ORIGIN_URL
from stackkit.errors import NotFound
from stackkit.kafka import EventProducer
from stackkit.service import from_state

router = APIRouter(prefix="/v1")


class Title(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=300)
    genres: list[str] = Field(default_factory=list, max_length=20)
    year: int = Field(ge=1880, le=2100)
    duration_s: int = Field(gt=0, le=86_400)


class TitleView(Title):
    title_id: str


WATCHED_AT = "RFC 3339 date-time with a UTC offset, e.g. 2026-01-01T20:15:00Z"


class Watched(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title_id: str = Field(pattern=ID)
    position_s: int = Field(ge=0, le=86_400)
    # Aware only: a local time without its offset is an instant nobody can place.
    watched_at: AwareDatetime | None = Field(
        default=None, description=f"{WATCHED_AT}; now if unset"
    )


class HistoryEntry(BaseModel):
    title_id: str
    position_s: int
    watched_at: AwareDatetime = Field(description=f"{WATCHED_AT}, always in UTC")

    @field_validator("watched_at", mode="before")
    @classmethod
    def _in_utc(cls, value: object) -> object:
        # Cassandra hands timestamps back naive, meaning UTC.
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value


Store = Annotated[CatalogStore, from_state("store")]
Cache = Annotated[ZonedCache, from_state("cache")]
Planner = Annotated[FillPlanner, from_state("fill")]
Fleet = Annotated[dict[str, Appliance], from_state("topology")]
Events = Annotated[EventProducer, from_state("events")]
Redis = Annotated["aioredis.Redis", from_state("redis")]
ForecastHead = Annotated[dict[str, list[str]], from_state("forecast_head")]
Metrics = Annotated[CatalogMetrics, from_state("catalog_metrics")]
TitleId = Annotated[str, Query(pattern=ID)]


@router.put("/titles/{title_id}", tags=["titles"], summary="Create or replace a title")
async def put_title(title_id: str, title: Title, store: Store, cache: Cache) -> TitleView:
    await store.put_title(title_id, title.name, title.genres, title.year, title.duration_s)
    await cache.invalidate(f"title:{title_id}")  # write-invalidate: the next read reloads
    return TitleView(title_id=title_id, **title.model_dump())


async def read_title(title_id: str, store: CatalogStore, cache: ZonedCache) -> TitleView:
    async def load() -> bytes | None:
        found = await store.title(title_id)
        return orjson.dumps(found) if found else None

    raw = await cache.get_or_load(f"title:{title_id}", load)
    if raw is None:
        raise NotFound(f"no title {title_id}", param="title_id")
    return TitleView.model_validate_json(raw)


TITLE_CACHE_CONTROL = "public, max-age=30, stale-while-revalidate=30, stale-if-error=600"
"""Shared caches (the edge) may keep a title 30 s, serve it stale while refreshing for 30 s
more, and for 10 minutes if the catalog is failing: titles change rarely and a PUT here is
followed by a purge at the edge when it must show at once."""


@router.get(
    "/titles/{title_id}",
    tags=["titles"],
    summary="A title, read through the cache (ETag, Cache-Control for the edge)",
    response_model=TitleView,
    responses={304: {"description": "Not modified (If-None-Match matched the ETag)"}},
)
async def get_title(
    title_id: str,
    store: Store,
    cache: Cache,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    body = (await read_title(title_id, store, cache)).model_dump_json().encode()
    etag = f'"{hashlib.blake2b(body, digest_size=8).hexdigest()}"'
    headers = {"etag": etag, "cache-control": TITLE_CACHE_CONTROL}
    if if_none_match and etag in (tag.strip() for tag in if_none_match.split(",")):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


@router.post("/profiles/{profile_id}/history", tags=["history"], summary="Record a play")
async def record_play(profile_id: str, watched: Watched, store: Store) -> HistoryEntry:
    at = watched.watched_at or datetime.now(UTC)
    await store.append_history(profile_id, at, watched.title_id, watched.position_s)
    return HistoryEntry(title_id=watched.title_id, position_s=watched.position_s, watched_at=at)


@router.get("/profiles/{profile_id}/history", tags=["history"], summary="Newest plays first")
async def history(
    profile_id: str, store: Store, limit: Annotated[int, Query(ge=1, le=200)] = 20
) -> list[HistoryEntry]:
    rows = await store.history(profile_id, limit)
    return [HistoryEntry(**row) for row in rows]


# -- playback: manifest and steering -----------------------------------------------------------


class Rung(BaseModel):
    id: str
    codec: str
    width: int
    height: int
    bitrate_kbps: int


class Playback(BaseModel):
    title_id: str
    manifest: list[Rung]
    sources: list[str]


class Health(BaseModel):
    model_config = ConfigDict(extra="forbid")
    healthy: bool


@router.get("/titles/{title_id}/play", tags=["playback"], summary="Rungs to play and where from")
async def play(
    title_id: str,
    store: Store,
    cache: Cache,
    fleet: Fleet,
    metrics: Metrics,
    isp: Annotated[str, Query(min_length=1, max_length=64)],
    region: Annotated[str, Query(min_length=1, max_length=32)],
    codecs: Annotated[str, Query(description="comma separated, e.g. h264,hevc")],
    max_height: Annotated[int, Query()],
    bandwidth_kbps: Annotated[float, Query()],
) -> Playback:
    await read_title(title_id, store, cache)  # 404 for an unknown title
    device = DeviceProfile.parse([c.strip() for c in codecs.split(",") if c.strip()], max_height)
    rungs = manifest(ladder(), device, bandwidth_kbps)
    sources = steer(Client(isp, region), title_id, list(fleet.values()), ORIGIN_URL)
    metrics.steered(sources[0].tier)
    return Playback(
        title_id=title_id,
        manifest=[
            Rung(
                id=r.id, codec=r.codec, width=r.width, height=r.height, bitrate_kbps=r.bitrate_kbps
            )
            for r in rungs
        ],
        sources=[f"{source.url}/{title_id}" for source in sources],
    )


@router.put(
    "/appliances/{appliance_id}/health", tags=["playback"], summary="Mark an appliance up or down"
)
async def set_health(appliance_id: str, health: Health, fleet: Fleet) -> dict[str, object]:
    if appliance_id not in fleet:
        raise NotFound(f"no appliance {appliance_id}", param="appliance_id")
    fleet[appliance_id] = replace(fleet[appliance_id], healthy=health.healthy)
    return {"id": appliance_id, "healthy": health.healthy}


class ApplianceFill(BaseModel):
    id: str
    kind: str
    isp: str | None
    region: str
    healthy: bool
    capacity_files: int
    holds: int
    added: int
    evicted: int


class FillView(BaseModel):
    runs: int
    planned_at: datetime | None
    plays_counted: float = Field(description="playback starts with an ISP counted so far")
    in_isp_share: float = Field(description="share of them an appliance in the client's ISP serves")
    in_isp_share_by_isp: dict[str, float]
    added: int = Field(description="files added across the fleet by the last plan")
    evicted: int = Field(description="files evicted across the fleet by the last plan")
    appliances: list[ApplianceFill]


def _fill_view(report: FillReport, fleet: dict[str, Appliance]) -> FillView:
    appliances = []
    for appliance in fleet.values():
        plan = report.plans.get(appliance.id)
        appliances.append(
            ApplianceFill(
                id=appliance.id,
                kind=appliance.kind,
                isp=appliance.isp,
                region=appliance.region,
                healthy=appliance.healthy,
                capacity_files=appliance.capacity_files,
                holds=len(appliance.files),
                added=len(plan.add) if plan else 0,
                evicted=len(plan.evict) if plan else 0,
            )
        )
    planned_at = datetime.fromtimestamp(report.planned_at, UTC) if report.planned_at else None
    return FillView(
        runs=report.runs,
        planned_at=planned_at,
        plays_counted=report.plays_counted,
        in_isp_share=report.in_isp_share,
        in_isp_share_by_isp=report.in_isp_share_by_isp,
        added=report.added,
        evicted=report.evicted,
        appliances=appliances,
    )


@router.get("/fill", tags=["playback"], summary="The last fill plan and the in-ISP share")
async def fill_report(planner: Planner, fleet: Fleet) -> FillView:
    return _fill_view(planner.report, fleet)


@router.post("/fill", tags=["playback"], summary="Run the fill planner now")
async def run_fill(planner: Planner, fleet: Fleet) -> FillView:
    return _fill_view(await planner.run(), fleet)


# -- plays and rows ----------------------------------------------------------------------------


class RowsView(BaseModel):
    profile_id: str
    personalized: bool
    rows: list[dict[str, object]]


@router.post(
    "/plays", tags=["plays"], status_code=202, summary="A playback start, progress or stop"
)
async def report_play(play: Play, events: Events) -> dict[str, str]:
    event = EVENTS.event(play)
    await events.publish(PLAYS.name, event)
    return {"event_id": event.id}


class PlayBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plays: list[Play] = Field(min_length=1, max_length=500)


@router.post(
    "/plays/batch",
    tags=["plays"],
    status_code=202,
    summary="Up to 500 plays at once, as players send their telemetry",
)
async def report_plays(batch: PlayBatch, events: Events) -> dict[str, list[str]]:
    played = [EVENTS.event(play) for play in batch.plays]
    await events.publish_many(PLAYS.name, played)
    return {"event_ids": [event.id for event in played]}


@router.get("/profiles/{profile_id}/rows", tags=["plays"], summary="The home page rows")
async def home_rows(
    profile_id: str,
    store: Store,
    cache: Cache,
    redis: Redis,
    heads: ForecastHead,
    region: Annotated[str, Query(min_length=1, max_length=32)],
) -> RowsView:
    live = await trending(redis, region, 50)
    # a region with few plays yet is topped up from the seed forecast
    forecast = heads.get(region, [])
    popular = list(dict.fromkeys([*live, *forecast]))[:50]

    async def recent_titles() -> list[str]:
        return [entry["title_id"] for entry in await store.history(profile_id, 50)]

    async def genres_of(title_id: str) -> set[str]:
        try:
            return set((await read_title(title_id, store, cache)).genres)
        except NotFound:
            return set()

    personalized, rows = await build_rows(region, popular, recent_titles, genres_of)
    return RowsView(
        profile_id=profile_id,
        personalized=personalized,
        rows=[{"name": row.name, "titles": row.titles} for row in rows],
    )
