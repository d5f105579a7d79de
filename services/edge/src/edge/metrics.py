"""What a PoP reports on /metrics beyond the HTTP basics."""

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from stackkit.metrics import LATENCY_BUCKETS

PROPAGATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class EdgeMetrics:
    registry: CollectorRegistry

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "edge_requests_total",
            "Requests by route and cache status",
            ["route", "cache_status", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "edge_request_duration_seconds",
            "From a proxied HTTP request's arrival to its answer written, by route and cache"
            " status: a HIT costs a lookup, a MISS the upstream fetch too",
            ["route", "cache_status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_fetches = Counter(
            "edge_upstream_fetches_total",
            "Fetches from this PoP, to the origin or the upper tier, by this PoP's tier"
            " (edge.tieredCache=off shows as origin fetches of the lower tiers)",
            ["target", "tier"],
            registry=r,
        )
        self.tier_bypasses = Counter(
            "edge_tier_bypasses_total",
            "A lower tier's fetches for the cache that went to the origin without the upper"
            " tier's answer: tiered_cache_off, upper_tier_open (the breaker skips it),"
            " upper_tier_failed (asked, no answer)",
            ["reason"],
            registry=r,
        )
        self.upper_tier_open = Gauge(
            "edge_upper_tier_open",
            "1 while this lower tier's breaker skips its upper tier (unreachable), else 0",
            registry=r,
        )
        self.blocked = Counter(
            "edge_waf_blocked_total", "Requests blocked by the WAF", ["rule"], registry=r
        )
        self.rate_limited = Counter(
            "edge_rate_limited_total", "Requests over a rate limit", ["rule"], registry=r
        )
        self.cache_bytes = Gauge("edge_cache_bytes", "Bytes held by the cache", registry=r)
        self.cache_entries = Gauge("edge_cache_entries", "Responses held by the cache", registry=r)
        self.config_version = Gauge("edge_config_version", "Config version applied", registry=r)
        self.config_propagation = Histogram(
            "edge_config_propagation_seconds",
            "From the config log accepting a change to this PoP applying it, by the path that"
            " brought it: push (a Kafka edge.config event) or poll (the periodic catch-up from"
            " the log, the only path under edge.configPush=log_polling)",
            ["path"],
            buckets=PROPAGATION_BUCKETS,
            registry=r,
        )
        self.coalesced = Counter(
            "edge_coalesced_requests_total",
            "Misses that waited for another request's fetch (none under edge.coalescing=off)",
            registry=r,
        )
