"""How a PoP gets what it does not hold: a lower tier asks its upper tier, which alone goes to
the origins; a route's origins are tried healthiest first.

Read per fetch (a dict read each), the run-time flags that change which: ``edge.tieredCache``
(off: a lower tier goes to the origin itself on every miss) and ``edge.upperTierDown`` (the
upper tier cannot be reached: the lower tier's breaker opens and misses go to the origin, as
when the upper tier is really gone). ``fault.origin`` is met in :mod:`edge.upstream`.
"""

import time
from collections.abc import Callable

import aiohttp

from edge import upstream
from edge.domain import trust
from edge.domain.breaker import BreakerState, CircuitBreaker
from edge.domain.freshness import Headers
from edge.domain.origins import OriginHealth
from edge.metrics import EdgeMetrics
from edge.probes import note
from edge.routing import ProxyRequest
from edge.settings import EdgeSettings
from edge.upstream import UpstreamFailed, UpstreamResponse
from stackkit import flags
from stackkit.flags import FAULTS_INJECTED
from stackkit.logs import get_logger

TIERED_CACHE = "edge.tieredCache"
UPPER_TIER_DOWN = "edge.upperTierDown"
MAX_INVALIDATED = 10_000

log = get_logger(__name__)


class Fetcher:
    """One PoP's way upstream: its upper tier (behind a breaker) and the routes' origins."""

    def __init__(
        self,
        settings: EdgeSettings,
        session: aiohttp.ClientSession,
        metrics: EdgeMetrics,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.session = session
        self.metrics = metrics
        self.clock = clock
        self.origin_health = OriginHealth()
        self.upper_tier = CircuitBreaker()
        """Open while the upper tier is unreachable: misses go to the origin without asking."""
        self._upper_tier_down = False
        """``edge.upperTierDown`` as the last fetch saw it (its end resets the breaker)."""
        self._invalidated: dict[str, None] = {}
        """URLs invalidated here whose next upper-tier fetch must revalidate (ordered set)."""
        tier = "lower" if settings.upper_tier_url else "upper"
        self._origin_fetches = metrics.upstream_fetches.labels("origin", tier)
        self._upper_tier_fetches = metrics.upstream_fetches.labels("upper_tier", tier)

    def invalidated(self, url: str) -> None:
        """RFC 9111 4.4: the next fetch of ``url`` asks the upper tier with ``no-cache``, so
        that tier refreshes its copy too."""
        self._invalidated[url] = None
        if len(self._invalidated) > MAX_INVALIDATED:
            self._invalidated.pop(next(iter(self._invalidated)))

    async def for_cache(self, request: ProxyRequest, headers: Headers) -> UpstreamResponse:
        """A GET for the cache: a lower tier asks the upper tier; if the upper tier cannot
        answer at all (or tiered caching is off), the lower tier goes to the origin itself."""
        upper = self.settings.upper_tier_url
        if not upper or request.from_lower_tier:
            return await self.to_origin(request, "GET", headers, b"")
        if flags.choice(TIERED_CACHE) == "off":
            self.metrics.tier_bypasses.labels("tiered_cache_off").inc()
            return await self.to_origin(request, "GET", headers, b"")
        self._follow_upper_tier_fault()
        if not self.upper_tier.allow(self.clock()):
            self.metrics.tier_bypasses.labels("upper_tier_open").inc()
            return await self.to_origin(request, "GET", headers, b"")
        url = f"{upper.rstrip('/')}{request.url}"
        invalidated = self._invalidated.pop(request.url, False) is None
        revalidate = [("cache-control", "no-cache")] if invalidated else []
        try:
            if self._upper_tier_down:
                FAULTS_INJECTED.labels(UPPER_TIER_DOWN, "error").inc()
                raise UpstreamFailed(f"{url}: flag {UPPER_TIER_DOWN} is on", timed_out=False)
            signature = trust.sign(
                self.settings.tier_secret, "GET", request.url, self.settings.pop_name, time.time()
            )
            response = await upstream.send(
                self.session,
                "GET",
                [url],
                [*headers, (trust.TIER_AUTH_HEADER, signature), *revalidate],
                b"",
                timeout_s=self.settings.origin_timeout_s,
                max_body_bytes=self.settings.cache_max_object_bytes,
                fault_site=None,  # the upper tier is a PoP, not an origin
            )
            self._upper_tier_fetches.inc()
            if self.upper_tier.succeeded() is BreakerState.CLOSED:
                self.metrics.upper_tier_open.set(0)
                log.info("upper_tier_reachable", upper_tier=upper)
            return response
        except UpstreamFailed as exc:
            # Once per state change, not per request: a dead upper tier used to log a
            # warning on every miss (~1,600 in 9 s) while every miss also waited for it.
            if self.upper_tier.failed(self.clock()) is BreakerState.OPEN:
                self.metrics.upper_tier_open.set(1)
                log.warning(
                    "upper_tier_unreachable", error=str(exc), retry_in_s=self.upper_tier.backoff_s
                )
        self.metrics.tier_bypasses.labels("upper_tier_failed").inc()
        return await self.to_origin(request, "GET", headers, b"")

    def _follow_upper_tier_fault(self) -> None:
        down = flags.is_on(UPPER_TIER_DOWN)
        if self._upper_tier_down and not down:
            # The partition the flag made is over, and the breaker's backoff was built from
            # its failures alone: without a fresh breaker a fault that lasted a minute would
            # keep the upper tier skipped for up to max_backoff_s after the flip back.
            if self.upper_tier.state is not BreakerState.CLOSED:
                log.info("upper_tier_reachable", upper_tier=self.settings.upper_tier_url)
            self.upper_tier = CircuitBreaker()
            self.metrics.upper_tier_open.set(0)
        self._upper_tier_down = down

    async def to_origin(
        self, request: ProxyRequest, method: str, headers: Headers, body: bytes
    ) -> UpstreamResponse:
        origins = self.origin_health.order(request.route.origins)
        # Healthy instances first; one retry on a fresh connection for a single origin.
        by_url = {f"{origin.rstrip('/')}{request.origin_path}": origin for origin in origins}
        urls = list(by_url)
        if len(urls) == 1:
            urls.append(urls[0])
        self._origin_fetches.inc()
        return await upstream.send(
            self.session,
            method,
            urls,
            headers,
            body,
            timeout_s=self.settings.origin_timeout_s,
            max_body_bytes=self.settings.max_response_bytes,
            on_unreachable=lambda url: note(
                self.origin_health, by_url[url], False, self.clock(), "connection refused"
            ),
        )
