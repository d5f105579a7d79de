"""The config plane's admin API, on every PoP: writes go to the log (any PoP takes them), reads
show what this PoP has applied."""

import hmac
import re
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, Header
from pydantic import AnyHttpUrl, BaseModel, Field, ValidationError, field_validator

from edge import configlog
from edge.domain.config import (
    CACHE_RULES,
    PURGE,
    RATE_LIMITS,
    ROUTE_PREFIX,
    WAF_POLICY,
)
from edge.proxy import Pop
from edge.replica import ConfigReplica
from stackkit import flags
from stackkit.authorization import bearer_token
from stackkit.errors import Invalid, Unauthorized
from stackkit.service import from_state

ROUTE_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
RESERVED_PREFIXES = frozenset({"_edge", "healthz", "readyz", "metrics", "docs", "openapi.json"})


class RouteValue(BaseModel):
    origins: list[AnyHttpUrl] = Field(min_length=1)
    websocket: bool = False


class CacheRuleValue(BaseModel):
    path_prefix: str = Field(pattern=r"^/")
    bypass: bool = False
    edge_ttl_s: float | None = Field(default=None, ge=0)


class WafRuleValue(BaseModel):
    id: str = Field(pattern=r"^[0-9a-z-]+$")
    description: str = ""
    pattern: str = Field(min_length=1, max_length=500)
    score: int = Field(default=5, ge=1, le=100)
    in_headers: bool = False

    @field_validator("pattern")
    @classmethod
    def compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        return pattern


class WafPolicyValue(BaseModel):
    threshold: int = Field(default=5, ge=1)
    disabled: list[str] = []
    custom: list[WafRuleValue] = []


class RateLimitValue(BaseModel):
    id: str = Field(pattern=r"^[0-9a-z-]+$")
    path_prefix: str = Field(pattern=r"^/")
    limit: int = Field(ge=1)
    period_s: float = Field(gt=0, le=86400)
    methods: list[Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]] = []
    key_header: str | None = Field(
        default=None, description="Count per value of this header; by client address when absent."
    )


class PurgeValue(BaseModel):
    urls: list[str] = []
    """Exact paths with query, as clients request them: ``/catalog/v1/titles/7``."""
    prefixes: list[str] = []


class ConfigWrite(BaseModel):
    set: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "route:<prefix> {origins, websocket} · "
            "cache:rules [{path_prefix, bypass, edge_ttl_s}] · "
            "waf:policy {threshold, disabled, custom} · "
            "ratelimit:rules [{id, path_prefix, limit, period_s, methods, key_header}]"
        ),
    )
    delete: list[str] = []


def validated(key: str, value: Any) -> Any:
    """The value as it goes into the log: checked against its key's schema, normalised."""
    try:
        if key.startswith(ROUTE_PREFIX):
            prefix = key.removeprefix(ROUTE_PREFIX)
            if not ROUTE_NAME.fullmatch(prefix) or prefix in RESERVED_PREFIXES:
                raise Invalid(f"bad route prefix {prefix!r}", param=key)
            route = RouteValue.model_validate(value)
            return {
                "origins": [str(o).rstrip("/") for o in route.origins],
                "websocket": route.websocket,
            }
        if key == CACHE_RULES:
            return [CacheRuleValue.model_validate(v).model_dump() for v in value]
        if key == WAF_POLICY:
            return WafPolicyValue.model_validate(value).model_dump()
        if key == RATE_LIMITS:
            return [RateLimitValue.model_validate(v).model_dump() for v in value]
    except (ValidationError, TypeError) as exc:
        raise Invalid(f"bad value for {key}: {exc}", param=key) from exc
    raise Invalid(f"unknown config key {key!r}", param=key)


Db = Annotated["asyncpg.Pool[asyncpg.Record]", from_state("db")]
Replica = Annotated[ConfigReplica, from_state("replica")]
PopState = Annotated[Pop, from_state("pop")]


def require_admin(pop: PopState, authorization: Annotated[str | None, Header()] = None) -> None:
    token = bearer_token(authorization)
    # Constant time: a byte-by-byte compare leaks how much of a guess was right. The header as
    # its bytes on the wire (ASGI servers decode headers as latin-1), the setting as UTF-8.
    if token is None or not hmac.compare_digest(
        token.encode("latin-1", "replace"), pop.settings.admin_token.encode()
    ):
        raise Unauthorized("the config plane needs `Authorization: Bearer <EDGE_ADMIN_TOKEN>`")


router = APIRouter(prefix="/_edge", tags=["config plane"])
Admin = Depends(require_admin)


async def _append(pool: "asyncpg.Pool[asyncpg.Record]", entries: dict[str, Any]) -> dict[str, Any]:
    # The commit kicks every PoP's outbox relay (NOTIFY): the change is on Kafka at once.
    change = await configlog.write(pool, entries)
    return {"version": change.version, "written_at": change.written_at}


@router.put("/config", dependencies=[Admin], summary="Set and delete keys in one new version")
async def write_config(body: ConfigWrite, pool: Db) -> dict[str, Any]:
    if not body.set and not body.delete:
        raise Invalid("nothing to change: give `set` and/or `delete`")
    entries: dict[str, Any] = {key: validated(key, value) for key, value in body.set.items()}
    for key in body.delete:
        if key in entries:
            raise Invalid(f"{key} is both set and deleted", param=key)
        entries[key] = None
    return await _append(pool, entries)


@router.post("/purge", dependencies=[Admin], summary="Purge cached URLs or prefixes on every PoP")
async def purge(body: PurgeValue, pool: Db) -> dict[str, Any]:
    if not body.urls and not body.prefixes:
        raise Invalid("nothing to purge: give `urls` and/or `prefixes`")
    return await _append(pool, {PURGE: body.model_dump()})


@router.get("/config", summary="The config this PoP serves, and when recent changes landed")
async def read_config(replica: Replica) -> dict[str, Any]:
    return {
        "version": replica.version,
        "entries": replica.entries,
        "recent": [
            {"version": v, "written_at": w, "applied_at": a, "path": path}
            for v, w, a, path in replica.recent
        ],
    }


@router.get("/status", summary="This PoP: tier, config version, cache, breaker, flags")
async def status(pop: PopState, replica: Replica) -> dict[str, Any]:
    stats = pop.cache.stats
    return {
        "pop": pop.settings.pop_name,
        "region": pop.settings.region,
        "tier": "lower" if pop.settings.upper_tier_url else "upper",
        "config_version": replica.version,
        "started_cold": replica.cold_start,
        "routes": sorted(replica.config.routes),
        "cache": {
            "entries": stats.entries,
            "bytes": stats.bytes,
            "max_bytes": pop.cache.max_bytes,
            "evictions": stats.evictions,
            "purged": stats.purged,
        },
        "coalescing": {"leaders": pop.coalescer.leaders, "followers": pop.coalescer.followers},
        "upper_tier_breaker": pop.fetcher.upper_tier.state.value,
        "flags": {
            key: value
            for key, value in flags.status().values.items()
            if key.partition(".")[0] == "edge" or key == "fault.origin"
        },
    }
