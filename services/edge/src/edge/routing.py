"""Which headers cross the proxy, and which requests are framed ambiguously. Pure: no I/O."""

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
