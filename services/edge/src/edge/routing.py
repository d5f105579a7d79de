"""A request to a route as a PoP sees it, which headers cross the proxy, and which requests
are framed ambiguously. Pure: no I/O."""

from dataclasses import dataclass

from edge.domain.config import Route
from edge.domain.freshness import Headers

# RFC 9110 7.6.1 connection-specific headers, plus the ones the proxy recomputes.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


@dataclass(frozen=True)
class ProxyRequest:
    method: str
    path: str
    query: str
    headers: Headers
    client: str
    route: Route
    request_id: str
    from_lower_tier: bool

    @property
    def url(self) -> str:
        """The cache key: path and query as the client sent them (the route is the prefix)."""
        return f"{self.path}?{self.query}" if self.query else self.path

    @property
    def origin_path(self) -> str:
        """The path at the origin, with the query: ``/catalog/v1/x?q`` -> ``/v1/x?q``."""
        rest = self.route.origin_path(self.path)
        return f"{rest}?{self.query}" if self.query else rest


def forwardable_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    connection_listed = {
        token.strip().lower()
        for name, value in headers
        if name.lower() == "connection"
        for token in value.split(",")
    }
    return [
        (name, value)
        for name, value in headers
        if name.lower() not in HOP_BY_HOP and name.lower() not in connection_listed
    ]


def framing_problem(headers: list[tuple[str, str]]) -> str | None:
    """Request smuggling defences (RFC 9112 6.3): a message whose length two parsers could read
    differently is refused, not guessed at. The HTTP server's parser refuses most of these
    already; this is the second line."""
    lengths = {value.strip() for name, value in headers if name.lower() == "content-length"}
    encodings = [value for name, value in headers if name.lower() == "transfer-encoding"]
    if encodings and lengths:
        return "both Content-Length and Transfer-Encoding"
    if len(lengths) > 1 or any(not length.isdigit() for length in lengths):
        return "conflicting or invalid Content-Length"
    if encodings and ",".join(encodings).replace(" ", "").lower() != "chunked":
        return "unsupported Transfer-Encoding"
    return None
