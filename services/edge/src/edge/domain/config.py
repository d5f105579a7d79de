"""The edge's replicated configuration: versioned changes and the compiled view a PoP serves.

A change set has one version and any number of keys; a PoP applies change sets strictly in
version order and swaps in a newly compiled :class:`EdgeConfig` whole, so a request sees all of
a change or none of it.
"""

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from edge.domain.ratelimit import RateLimitRule
from edge.domain.waf import Rule, WafPolicy

ROUTE_PREFIX = "route:"
CACHE_RULES = "cache:rules"
WAF_POLICY = "waf:policy"
RATE_LIMITS = "ratelimit:rules"
PURGE = "purge"
"""Not state: applying a change with this key purges the PoP's cache."""


@dataclass(frozen=True)
class Route:
    prefix: str
    origins: tuple[str, ...]
    websocket: bool = False
    """Origins that take WebSocket upgrades (chat gateways)."""

    def origin_path(self, path: str) -> str:
        """What follows the prefix, from its slash: ``/catalog/v1/x`` -> ``/v1/x``."""
        return path[len(self.prefix) + 1 :] or "/"


@dataclass(frozen=True)
class CacheRule:
    path_prefix: str
    bypass: bool = False
    edge_ttl_s: float | None = None
    """Overrides the origin's freshness lifetime (Cloudflare's Edge TTL)."""


@dataclass(frozen=True)
class EdgeConfig:
    version: int = 0
    routes: dict[str, Route] = field(default_factory=dict)
    cache_rules: tuple[CacheRule, ...] = ()
    waf: WafPolicy = field(default_factory=WafPolicy)
    rate_limits: tuple[RateLimitRule, ...] = ()

    def cache_rule(self, path: str) -> CacheRule | None:
        """The most specific rule for a path."""
        matching = [rule for rule in self.cache_rules if path.startswith(rule.path_prefix)]
        return max(matching, key=lambda rule: len(rule.path_prefix), default=None)


@dataclass(frozen=True)
class ChangeSet:
    version: int
    written_at: float
    """Epoch seconds when the log accepted it (propagation is measured from here)."""
    entries: dict[str, Any]
    """key -> JSON value, or None to delete the key."""


def compile_config(version: int, entries: dict[str, Any], defaults: dict[str, Route]) -> EdgeConfig:
    """The view requests read. ``entries`` were validated when written (the admin API)."""
    routes = dict(defaults)
    for key, value in entries.items():
        if key.startswith(ROUTE_PREFIX):
            prefix = key.removeprefix(ROUTE_PREFIX)
            routes[prefix] = Route(prefix, tuple(value["origins"]), bool(value.get("websocket")))
    waf = entries.get(WAF_POLICY) or {}
    return EdgeConfig(
        version=version,
        routes=routes,
        cache_rules=tuple(
            CacheRule(r["path_prefix"], bool(r.get("bypass")), r.get("edge_ttl_s"))
            for r in entries.get(CACHE_RULES) or ()
        ),
        waf=WafPolicy(
            threshold=int(waf.get("threshold", WafPolicy.threshold)),
            disabled=frozenset(waf.get("disabled", ())),
            custom=tuple(
                Rule(
                    r["id"],
                    r.get("description", ""),
                    re.compile(r["pattern"], re.IGNORECASE),
                    int(r.get("score", 5)),
                    bool(r.get("in_headers")),
                )
                for r in waf.get("custom", ())
            ),
        ),
        rate_limits=tuple(
            RateLimitRule(
                r["id"],
                r["path_prefix"],
                int(r["limit"]),
                float(r["period_s"]),
                frozenset(m.upper() for m in r.get("methods", ())),
                r.get("key_header"),
            )
            for r in entries.get(RATE_LIMITS) or ()
        ),
    )


class Arrival(Enum):
    APPLY = "apply"
    """The next version: apply it."""
    ALREADY_APPLIED = "already-applied"
    """A duplicate or an old change: ignore it."""
    GAP = "gap"
    """Versions are missing in between: catch up from the log first."""


def arrival(applied_version: int, incoming_version: int) -> Arrival:
    if incoming_version <= applied_version:
        return Arrival.ALREADY_APPLIED
    if incoming_version == applied_version + 1:
        return Arrival.APPLY
    return Arrival.GAP


def merged(entries: dict[str, Any], change: ChangeSet) -> dict[str, Any]:
    """The key-value state after a change (purges are actions, not state)."""
    result = dict(entries)
    for key, value in change.entries.items():
        if key == PURGE:
            continue
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result
