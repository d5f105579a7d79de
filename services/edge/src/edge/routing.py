"""Which origin serves a path, and which headers cross the proxy. Pure: no I/O."""

from dataclasses import dataclass

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
class Route:
    service: str
    origin_url: str

    def upstream_url(self, rest: str, query: str) -> str:
        url = f"{self.origin_url.rstrip('/')}/{rest.lstrip('/')}"
        return f"{url}?{query}" if query else url


def route_for(service: str, origins: dict[str, str]) -> Route | None:
    origin = origins.get(service)
    return Route(service, origin) if origin else None


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
