"""RFC 9111 for a shared cache: what may be stored, how long it is fresh, what to do when not.

Pure functions over header lists and timestamps (seconds on the caller's clock).
"""

import email.utils
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from functools import cached_property

Headers = list[tuple[str, str]]

# RFC 9110 15.1: statuses a cache may store with heuristic freshness.
HEURISTICALLY_CACHEABLE = frozenset({200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501})
# RFC 9111 4.2.2: a tenth of the time since Last-Modified, capped as common caches do.
HEURISTIC_FRACTION = 0.1
HEURISTIC_CAP_S = 24 * 3600.0


def header_values(headers: Iterable[tuple[str, str]], name: str) -> list[str]:
    name = name.lower()
    return [value for key, value in headers if key.lower() == name]


def header_value(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    values = header_values(headers, name)
    return ", ".join(values) if values else None


def header_tokens(headers: Iterable[tuple[str, str]], name: str) -> list[str]:
    """A comma-separated list header (Vary, Connection) as lower-cased tokens."""
    return [
        token.strip().lower()
        for value in header_values(headers, name)
        for token in value.split(",")
        if token.strip()
    ]


@dataclass(frozen=True)
class CacheControl:
    directives: dict[str, str | None]

    @classmethod
    def parse(cls, headers: Iterable[tuple[str, str]]) -> "CacheControl":
        directives: dict[str, str | None] = {}
        for value in header_values(headers, "cache-control"):
            for part in value.split(","):
                name, _, argument = part.strip().partition("=")
                if name:
                    directives.setdefault(name.strip().lower(), argument.strip().strip('"') or None)
        return cls(directives)

    def has(self, name: str) -> bool:
        return name in self.directives

    def seconds(self, name: str) -> float | None:
        """A delta-seconds argument; an invalid one counts as absent (RFC 9111 1.2.2)."""
        argument = self.directives.get(name)
        if argument is None or not argument.isdigit():
            return None
        return float(argument)


def http_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def is_storable(
    method: str, status: int, request_headers: Headers, response_headers: Headers
) -> bool:
    """RFC 9111 3 for a shared cache, plus the CDN convention of never storing Set-Cookie."""
    if method != "GET" or status in (206, 304) or status >= 500:
        return False
    request_cc = CacheControl.parse(request_headers)
    response_cc = CacheControl.parse(response_headers)
    if request_cc.has("no-store") or response_cc.has("no-store") or response_cc.has("private"):
        return False
    if "*" in header_tokens(response_headers, "vary") or header_values(
        response_headers, "set-cookie"
    ):
        return False
    if header_values(request_headers, "authorization") and not (
        response_cc.has("public")
        or response_cc.has("s-maxage")
        or response_cc.has("must-revalidate")
    ):
        return False
    explicit = (
        response_cc.has("s-maxage")
        or response_cc.has("max-age")
        or header_value(response_headers, "expires") is not None
        or response_cc.has("public")
    )
    return explicit or (status in HEURISTICALLY_CACHEABLE and _has_validator(response_headers))


def refuses_caching(response_headers: Headers) -> bool:
    """The origin said not to store it (Cloudflare reports BYPASS), as opposed to giving no
    caching information at all (DYNAMIC)."""
    cc = CacheControl.parse(response_headers)
    return (
        cc.has("no-store")
        or cc.has("private")
        or bool(header_values(response_headers, "set-cookie"))
    )


def _has_validator(headers: Headers) -> bool:
    return bool(header_value(headers, "etag") or header_value(headers, "last-modified"))


def freshness_lifetime(response_headers: Headers, *, override_s: float | None = None) -> float:
    """How long a stored response is fresh (RFC 9111 4.2.1); ``override_s`` is an edge TTL rule."""
    if override_s is not None:
        return override_s
    cc = CacheControl.parse(response_headers)
    for directive in ("s-maxage", "max-age"):
        seconds = cc.seconds(directive)
        if seconds is not None:
            return seconds
    expires = header_value(response_headers, "expires")
    if expires is not None:
        expires_at = http_date(expires)
        date = http_date(header_value(response_headers, "date"))
        if expires_at is None or date is None:
            return 0.0  # an invalid Expires means already expired
        return max(0.0, expires_at - date)
    last_modified = http_date(header_value(response_headers, "last-modified"))
    date = http_date(header_value(response_headers, "date"))
    if last_modified is not None and date is not None and date > last_modified:
        return min(HEURISTIC_CAP_S, HEURISTIC_FRACTION * (date - last_modified))
    return 0.0


class Freshness(Enum):
    FRESH = "fresh"
    """Serve it."""
    STALE_WHILE_REVALIDATE = "stale-while-revalidate"
    """Serve it now, and revalidate in the background."""
    MUST_REVALIDATE = "must-revalidate"
    """Ask the origin (conditionally when there is a validator) before serving."""


@dataclass(frozen=True)
class StoredResponse:
    status: int
    headers: Headers
    body: bytes
    stored_at: float
    """When the response arrived, on the cache's clock."""
    initial_age: float
    lifetime: float
    vary: dict[str, str]
    """The request's values of the headers the response varies on (a variant's identity)."""

    @cached_property
    def cache_control(self) -> CacheControl:
        """Parsed once: every hit consults it."""
        return CacheControl.parse(self.headers)

    @property
    def size(self) -> int:
        return len(self.body) + sum(len(k) + len(v) for k, v in self.headers) + 200

    def age(self, now: float) -> float:
        return self.initial_age + max(0.0, now - self.stored_at)

    @property
    def etag(self) -> str | None:
        return header_value(self.headers, "etag")

    @property
    def last_modified(self) -> str | None:
        return header_value(self.headers, "last-modified")

    def validators(self) -> Headers:
        """Conditional request headers for revalidating this response (RFC 9110 13.1)."""
        conditions: Headers = []
        if self.etag:
            conditions.append(("if-none-match", self.etag))
        if self.last_modified:
            conditions.append(("if-modified-since", self.last_modified))
        return conditions

    def stale_window(self, directive: str, request_headers: Headers) -> float:
        """The seconds past expiry ``stale-while-revalidate`` or ``stale-if-error`` allow."""
        allowed = self.cache_control.seconds(directive)
        if directive == "stale-if-error":  # a client may ask for it too (RFC 5861 4)
            requested = CacheControl.parse(request_headers).seconds(directive)
            allowed = max(filter(None, (allowed, requested)), default=None)
        return allowed or 0.0

    def may_serve_stale(self) -> bool:
        cc = self.cache_control
        return not (cc.has("must-revalidate") or cc.has("proxy-revalidate") or cc.has("no-cache"))


def store(
    status: int,
    request_headers: Headers,
    response_headers: Headers,
    body: bytes,
    now: float,
    *,
    override_s: float | None = None,
) -> StoredResponse:
    age = header_value(response_headers, "age")
    return StoredResponse(
        status=status,
        headers=[(k, v) for k, v in response_headers if k.lower() != "age"],
        body=body,
        stored_at=now,
        initial_age=float(age) if age and age.isdigit() else 0.0,
        lifetime=freshness_lifetime(response_headers, override_s=override_s),
        vary=variant_of(header_tokens(response_headers, "vary"), request_headers),
    )


def variant_of(vary: list[str], request_headers: Headers) -> dict[str, str]:
    """RFC 9111 4.1: the request's values of the Vary headers, normalised for comparison."""
    return {
        name: ",".join(v.strip() for v in header_values(request_headers, name)).lower()
        for name in vary
    }


def matches(entry: StoredResponse, request_headers: Headers) -> bool:
    return variant_of(list(entry.vary), request_headers) == entry.vary


def freshness(entry: StoredResponse, request_headers: Headers, now: float) -> Freshness:
    """Whether a stored response may be served for this request as it is (RFC 9111 4.2, 5.2.1)."""
    request_cc = CacheControl.parse(request_headers)
    response_cc = entry.cache_control
    age = entry.age(now)
    if request_cc.has("no-cache") or response_cc.has("no-cache"):
        return Freshness.MUST_REVALIDATE
    max_age = request_cc.seconds("max-age")
    if max_age is not None and age > max_age:
        return Freshness.MUST_REVALIDATE
    if age < entry.lifetime:
        return Freshness.FRESH
    if entry.may_serve_stale() and age < entry.lifetime + entry.stale_window(
        "stale-while-revalidate", request_headers
    ):
        return Freshness.STALE_WHILE_REVALIDATE
    return Freshness.MUST_REVALIDATE


def may_serve_on_error(entry: StoredResponse, request_headers: Headers, now: float) -> bool:
    """``stale-if-error`` (RFC 5861 4): the origin failed, and the stale copy is still allowed."""
    return entry.may_serve_stale() and entry.age(now) < entry.lifetime + entry.stale_window(
        "stale-if-error", request_headers
    )


def freshened(
    entry: StoredResponse,
    not_modified_headers: Headers,
    now: float,
    *,
    override_s: float | None = None,
) -> StoredResponse:
    """RFC 9111 4.3.4: a 304 updates the stored headers and restarts the entry's age."""
    replaced = {name.lower() for name, _ in not_modified_headers} - {"content-length"}
    headers = [(k, v) for k, v in entry.headers if k.lower() not in replaced]
    headers += [
        (k, v) for k, v in not_modified_headers if k.lower() in replaced and k.lower() != "age"
    ]
    age = header_value(not_modified_headers, "age")
    return StoredResponse(
        status=entry.status,
        headers=headers,
        body=entry.body,
        stored_at=now,
        initial_age=float(age) if age and age.isdigit() else 0.0,
        lifetime=freshness_lifetime(headers, override_s=override_s),
        vary=entry.vary,
    )


def not_modified_for(entry: StoredResponse, request_headers: Headers) -> bool:
    """A client's conditional GET the stored response satisfies (RFC 9110 13.1.2, 13.2.2)."""
    if_none_match = header_value(request_headers, "if-none-match")
    if if_none_match is not None:
        etag = entry.etag
        if etag is None:
            return False
        wanted = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in wanted or etag.removeprefix("W/") in wanted
    since = http_date(header_value(request_headers, "if-modified-since"))
    modified = http_date(entry.last_modified)
    return since is not None and modified is not None and modified <= since
