"""A PoP's request path: check framing, WAF, rate limits; then serve from the cache or fetch
(coalesced, through the upper tier when this PoP is a lower tier: :mod:`edge.fetching`) or
pass through to the origin. ``edge.coalescing=off`` gives every miss its own fetch.

This is plain ASGI rather than FastAPI routes: it is the hot path, and a cache hit should cost
a dictionary lookup and a write, not a router and a middleware stack.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
from starlette.types import Receive, Scope, Send

from edge.coalescing import Coalescer
from edge.domain import ratelimit, trust, waf
from edge.domain.cachestore import ResponseCache
from edge.domain.config import CacheRule, EdgeConfig, Route
from edge.domain.freshness import (
    Freshness,
    Headers,
    StoredResponse,
    freshened,
    freshness,
    header_value,
    is_storable,
    matches,
    may_serve_on_error,
    not_modified_for,
    refuses_caching,
    store,
    variant_of,
)
from edge.fetching import Fetcher
from edge.metrics import EdgeMetrics
from edge.routing import ProxyRequest, forwardable_headers, framing_problem
from edge.settings import EdgeSettings
from edge.upstream import ResponseTooLarge, UpstreamFailed, UpstreamResponse
from stackkit import flags, tracing
from stackkit.errors import DomainError, UpstreamTimeout, UpstreamUnreachable
from stackkit.http_errors import error_body, status_and_body
from stackkit.logs import get_logger
from stackkit.metrics import trace_exemplar
from stackkit.middleware import new_request_id
from stackkit.request_context import set_request_id

CLIENT_CONDITIONALS = frozenset({"if-none-match", "if-modified-since"})
# Set by this PoP on every response; an upstream's (or the upper tier's) values are dropped.
EDGE_OWNED = frozenset(
    {"date", "server", "x-request-id", "x-edge-pop", "cf-ray", "cf-cache-status", "age"}
)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_PATH_CHARS = 8192
COALESCING = "edge.coalescing"

log = get_logger(__name__)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Headers
    body: bytes
    cache_status: str


@dataclass(frozen=True)
class Fetched:
    """What one fetch for the cache got, shared by every request that waited for it."""

    response: UpstreamResponse
    entry: StoredResponse | None
    """The stored (or freshened) response; None when it must not be shared."""
    cache_status: str


class RequestRejected(Exception):
    def __init__(self, reply: Reply) -> None:
        self.reply = reply


def error_reply(
    status: int,
    error_type: str,
    code: str,
    message: str,
    headers: Headers | None = None,
    cache_status: str = "DYNAMIC",
) -> Reply:
    body = error_body(error_type=error_type, code=code, message=message)
    return _json_reply(status, body, headers or [], cache_status)


def domain_error_reply(error: DomainError) -> Reply:
    """The reply for one of the stack's errors, in its status and body (e.g. upstream 502s)."""
    status, body = status_and_body(error)
    return _json_reply(status, body, [], "DYNAMIC")


def _json_reply(status: int, body: dict[str, Any], headers: Headers, cache_status: str) -> Reply:
    return Reply(
        status,
        [("content-type", "application/json"), *headers],
        orjson.dumps(body),
        cache_status,
    )


def upstream_failure(prefix: str, failure: UpstreamFailed) -> DomainError:
    """What the client hears of a failed upstream: the route, never the origin's address."""
    if failure.timed_out:
        return UpstreamTimeout(f"/{prefix} timed out")
    return UpstreamUnreachable(f"/{prefix} is unreachable")


class Pop:
    """One PoP's state: its config view, cache, limiter, upstream pool and metrics."""

    def __init__(
        self,
        settings: EdgeSettings,
        config: Callable[[], EdgeConfig],
        session: aiohttp.ClientSession,
        metrics: EdgeMetrics,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.config = config
        self.session = session
        self.metrics = metrics
        self.clock = clock
        self.cache = ResponseCache(settings.cache_max_bytes, settings.cache_max_object_bytes)
        self.limiter = ratelimit.SlidingWindowLimiter()
        self.coalescer: Coalescer[Fetched] = Coalescer()
        self.fetcher = Fetcher(settings, session, metrics, clock)
        self.origin_health = self.fetcher.origin_health
        self._ray_suffix = f"-{settings.pop_name}"
        self._tier = "lower" if settings.upper_tier_url else "upper"

    # -- the ASGI side -------------------------------------------------------------------------

    def request_of(self, route: Route, scope: Scope) -> ProxyRequest:
        """The request as this PoP sees it (HTTP or a WebSocket upgrade): the path exactly as
        received, and only a lower tier's valid signature makes it a tier's."""
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        incoming_id = header_value(headers, "x-request-id")
        request_id = incoming_id[:64] if incoming_id else new_request_id()
        set_request_id(request_id)
        # raw_path, not path: the decoded path turns `a%23b` into `a#b`, which the origin URL
        # then cut at the `#` (a write to title `a`); cache key, WAF and origin see one path.
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else quote(scope["path"])
        query = scope["query_string"].decode("latin-1")
        target = f"{path}?{query}" if query else path
        signer = trust.verify(
            self.settings.tier_secret,
            header_value(headers, trust.TIER_AUTH_HEADER),
            scope.get("method", "GET"),
            target,
            time.time(),
        )
        return ProxyRequest(
            method=scope.get("method", "GET"),
            path=path,
            query=query,
            headers=headers,
            client=scope["client"][0] if scope.get("client") else "",
            route=route,
            request_id=request_id,
            from_lower_tier=signer is not None,
        )

    def admit_upgrade(
        self, route: Route, scope: Scope
    ) -> tuple[int, list[tuple[str, str]], bytes] | None:
        """For a WebSocket upgrade (path, query, headers): None when it may be relayed, else
        the refusal's status, headers and body (the same WAF and limits as HTTP requests)."""
        request = self.request_of(route, scope)
        try:
            self.admit(request, self.config())
        except RequestRejected as rejected:
            reply = rejected.reply
            self.metrics.requests.labels(route.prefix, reply.cache_status, str(reply.status)).inc()
            edge = [("x-request-id", request.request_id), ("x-edge-pop", self.settings.pop_name)]
            return reply.status, [*reply.headers, *edge], reply.body
        return None

    async def handle_http(self, route: Route, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method = scope.get("method", "GET")
        # This hop's own SERVER span, cache hits included: the client's traceparent is its
        # parent, and the origin fetch (aiohttp's instrumentation) continues this span, not
        # the client's. Not tracing: one flag check.
        with tracing.server_span(
            f"{method} /{route.prefix}",
            scope["headers"],
            attributes={
                "http.request.method": method,
                "url.path": scope["path"],
                "http.route": f"/{route.prefix}",
                "edge.pop": self.settings.pop_name,
                "edge.tier": self._tier,
            },
        ):
            request = self.request_of(route, scope)
            try:
                reply = await self.serve(request, receive)
            except RequestRejected as rejected:
                reply = rejected.reply
            except ResponseTooLarge as exc:
                reply = domain_error_reply(exc)
            except UpstreamFailed as exc:
                log.warning("upstream_failed", route=route.prefix, error=str(exc))
                reply = domain_error_reply(upstream_failure(route.prefix, exc))
            tracing.set_attribute("http.response.status_code", reply.status)
            tracing.set_attribute("cf.cache_status", reply.cache_status)
            await self._send(send, reply, request)
            self.metrics.latency.labels(route.prefix, reply.cache_status).observe(
                time.perf_counter() - started, exemplar=trace_exemplar()
            )
        self.metrics.requests.labels(route.prefix, reply.cache_status, str(reply.status)).inc()

    async def _send(self, send: Send, reply: Reply, request: ProxyRequest) -> None:
        body = b"" if request.method == "HEAD" or reply.status in (204, 304) else reply.body
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
        if reply.status not in (204, 304):
            headers.append((b"content-length", str(len(reply.body)).encode()))
        headers += [
            (b"x-request-id", request.request_id.encode()),
            (b"x-edge-pop", self.settings.pop_name.encode()),
            (b"cf-ray", (request.request_id + self._ray_suffix).encode()),
            (b"cf-cache-status", reply.cache_status.encode()),
        ]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    # -- the decisions -------------------------------------------------------------------------

    async def serve(self, request: ProxyRequest, receive: Receive) -> Reply:
        config = self.config()  # one view for the whole request, even if a change lands now
        problem = framing_problem(request.headers)
        if problem:
            raise RequestRejected(error_reply(400, "invalid_request_error", "bad_framing", problem))
        body = await self._read_body(request, receive)  # the WAF weighs the body too
        self.admit(request, config, body)
        rule = config.cache_rule(request.path)
        if request.method == "GET" and not (rule and rule.bypass):
            return await self._serve_cacheable(request, rule)
        response = await self.fetcher.to_origin(
            request, request.method, self._upstream_headers(request), body
        )
        if request.method in UNSAFE_METHODS and response.status < 400:
            self._invalidate(request.url)
        return Reply(
            response.status,
            self._response_headers(response.headers),
            response.body,
            "BYPASS" if rule and rule.bypass else "DYNAMIC",
        )

    def _invalidate(self, url: str) -> None:
        """RFC 9111 4.4: a successful unsafe request invalidates the URL here; the next fetch
        for it asks the upper tier with ``no-cache`` so that tier refreshes its copy too."""
        self.cache.purge(urls=[url])
        self.fetcher.invalidated(url)

    def admit(self, request: ProxyRequest, config: EdgeConfig, body: bytes = b"") -> None:
        """Raises :class:`RequestRejected` unless the request may go on: its path must be
        routable as received, and a client's request (not a signed tier's) must pass the WAF
        and the rate limits. HTTP requests and WebSocket upgrades alike."""
        prefix = f"/{request.route.prefix}"
        if request.path[len(prefix) : len(prefix) + 1] not in ("", "/") or not (
            request.path.startswith(prefix) and len(request.path) <= MAX_PATH_CHARS
        ):
            # e.g. `/catalog%2Fv1`: routed on the decoded path, not the one we forward.
            raise RequestRejected(
                error_reply(400, "invalid_request_error", "bad_path", "an unroutable path")
            )
        if not request.from_lower_tier:
            self._protect(request, config, body)

    def _protect(self, request: ProxyRequest, config: EdgeConfig, body: bytes) -> None:
        verdict = waf.inspect(
            request.method,
            request.path,
            request.query,
            request.headers,
            config.waf,
            body=body or None,
        )
        if verdict.blocked_by:
            self.metrics.blocked.labels(verdict.blocked_by).inc()
            raise RequestRejected(
                error_reply(
                    403,
                    "waf_error",
                    "waf_blocked",
                    f"blocked by WAF rule {verdict.blocked_by} (anomaly score {verdict.score})",
                    [("x-edge-waf-rule", verdict.blocked_by)],
                )
            )

        def client_key(rule: ratelimit.RateLimitRule) -> str:
            if rule.key_header:
                return header_value(request.headers, rule.key_header) or ""
            return request.client

        decision = ratelimit.check(
            self.limiter, config.rate_limits, request.method, request.path, client_key, time.time()
        )
        if not decision.allowed:
            self.metrics.rate_limited.labels(decision.rule_id or "").inc()
            raise RequestRejected(
                error_reply(
                    429,
                    "rate_limit_error",
                    "rate_limited",
                    f"over rate limit {decision.rule_id}; retry in {decision.retry_after_s} s",
                    [
                        ("retry-after", str(decision.retry_after_s)),
                        ("x-edge-ratelimit-rule", decision.rule_id or ""),
                    ],
                )
            )

    async def _read_body(self, request: ProxyRequest, receive: Receive) -> bytes:
        limit = self.settings.max_body_bytes
        declared = header_value(request.headers, "content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise RequestRejected(self._too_large(limit))
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RequestRejected(
                    error_reply(400, "invalid_request_error", "client_gone", "the client went away")
                )
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestRejected(self._too_large(limit))
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    @staticmethod
    def _too_large(limit: int) -> Reply:
        return error_reply(
            413,
            "invalid_request_error",
            "body_too_large",
            f"request bodies are limited to {limit} bytes",
        )

    # -- caching -------------------------------------------------------------------------------

    async def _serve_cacheable(self, request: ProxyRequest, rule: CacheRule | None) -> Reply:
        entry = self.cache.lookup(request.url, request.headers)
        if entry is not None:
            match freshness(entry, request.headers, self.clock()):
                case Freshness.FRESH:
                    return self._from_entry(request, entry, "HIT")
                case Freshness.STALE_WHILE_REVALIDATE:
                    self._revalidate_in_background(request, entry, rule)
                    return self._from_entry(request, entry, "UPDATING")
                case Freshness.MUST_REVALIDATE:
                    pass
        group = (
            request.url,
            tuple(sorted(variant_of(self.cache.vary_names(request.url), request.headers).items())),
        )
        try:
            if flags.choice(COALESCING) == "on":
                fetched, led = await self.coalescer.run(
                    group, lambda: self._fetch_for_cache(request, entry, rule)
                )
            else:  # what coalescing saves: every concurrent miss its own fetch
                fetched, led = await self._fetch_for_cache(request, entry, rule), True
        except UpstreamFailed:
            if entry is not None and may_serve_on_error(entry, request.headers, self.clock()):
                return self._from_entry(request, entry, "STALE")
            raise
        if (
            fetched.response.status >= 500
            and entry is not None
            and may_serve_on_error(entry, request.headers, self.clock())
        ):
            return self._from_entry(request, entry, "STALE")
        if led:
            return self._from_fetched(request, fetched)
        self.metrics.coalesced.inc()
        if fetched.entry is not None and matches(fetched.entry, request.headers):
            return self._from_entry(request, fetched.entry, "HIT")
        # Not shareable with this request (private, or another variant): its own fetch.
        return self._from_fetched(request, await self._fetch_for_cache(request, entry, rule))

    def _revalidate_in_background(
        self, request: ProxyRequest, entry: StoredResponse, rule: CacheRule | None
    ) -> None:
        async def revalidate() -> Fetched:
            try:
                return await self._fetch_for_cache(request, entry, rule)
            except Exception as exc:  # the stale copy keeps being served meanwhile
                log.warning("background_revalidation_failed", url=request.url, error=repr(exc))
                raise

        self.coalescer.start((request.url, tuple(sorted(entry.vary.items()))), revalidate)

    async def _fetch_for_cache(
        self, request: ProxyRequest, stale: StoredResponse | None, rule: CacheRule | None
    ) -> Fetched:
        headers = [
            (k, v)
            for k, v in self._upstream_headers(request)
            if k.lower() not in CLIENT_CONDITIONALS
        ]
        if stale is not None:
            headers += stale.validators()
        fetched = await self.fetcher.for_cache(request, headers)
        # Stored without hop-by-hop and edge headers; Date stays (freshness may need it).
        response = UpstreamResponse(
            fetched.status,
            [
                (k, v)
                for k, v in forwardable_headers(fetched.headers)
                if k.lower() not in EDGE_OWNED or k.lower() == "date"
            ],
            fetched.body,
        )
        now = self.clock()
        edge_ttl = rule.edge_ttl_s if rule else None
        if response.status == 304 and stale is not None:
            entry = freshened(stale, response.headers, now, override_s=edge_ttl)
            self.cache.put(request.url, entry)
            self._cache_gauges()
            return Fetched(response, entry, "REVALIDATED")
        status = "EXPIRED" if stale is not None else "MISS"
        if response.status >= 500 and stale is not None:
            return Fetched(response, None, status)  # keep the stale copy for stale-if-error
        if not is_storable("GET", response.status, request.headers, response.headers):
            return Fetched(
                response, None, "BYPASS" if refuses_caching(response.headers) else "DYNAMIC"
            )
        entry = store(
            response.status,
            request.headers,
            response.headers,
            response.body,
            now,
            override_s=edge_ttl,
        )
        stored = self.cache.put(request.url, entry)
        self._cache_gauges()
        return Fetched(response, entry if stored else None, status)

    def _cache_gauges(self) -> None:
        self.metrics.cache_bytes.set(self.cache.stats.bytes)
        self.metrics.cache_entries.set(self.cache.stats.entries)

    def _from_entry(self, request: ProxyRequest, entry: StoredResponse, status: str) -> Reply:
        headers = [(k, v) for k, v in entry.headers if k.lower() not in EDGE_OWNED]
        headers.append(("age", str(int(entry.age(self.clock())))))
        if request.method == "GET" and not_modified_for(entry, request.headers):
            kept = {"etag", "cache-control", "expires", "vary", "last-modified", "age"}
            return Reply(304, [(k, v) for k, v in headers if k.lower() in kept], b"", status)
        return Reply(entry.status, headers, entry.body, status)

    def _from_fetched(self, request: ProxyRequest, fetched: Fetched) -> Reply:
        """What this request's own fetch got: from the stored entry when there is one."""
        if fetched.entry is not None:
            return self._from_entry(request, fetched.entry, fetched.cache_status)
        response = fetched.response
        return Reply(
            response.status,
            self._response_headers(response.headers),
            response.body,
            fetched.cache_status,
        )

    # -- upstreams -----------------------------------------------------------------------------

    def _upstream_headers(self, request: ProxyRequest) -> Headers:
        # What only the stack may say (tier markers, x-dispatch-forwarded, x-forwarded-*) is
        # dropped from what the client sent and, where the edge owns it, written anew.
        headers = [
            (k, v)
            for k, v in trust.without_internal(forwardable_headers(request.headers))
            if k.lower() != "x-request-id"
        ]
        # A client's own X-Forwarded-For is not believed; a signed lower tier's chain is.
        forwarded_for = header_value(request.headers, "x-forwarded-for")
        client_chain = (
            f"{forwarded_for}, {request.client}"
            if forwarded_for and request.from_lower_tier
            else request.client
        )
        return [
            *headers,
            ("x-forwarded-for", client_chain),
            ("x-forwarded-proto", "http"),
            ("x-forwarded-prefix", f"/{request.route.prefix}"),
            ("x-request-id", request.request_id),
        ]

    @staticmethod
    def _response_headers(headers: Headers) -> Headers:
        return [(k, v) for k, v in forwardable_headers(headers) if k.lower() not in EDGE_OWNED]
