"""What the edge trusts: which request headers only the stack itself may set, and how a lower
tier proves to the upper tier that a request is its own. Pure: no I/O.

A shared secret sent as a header is a password any client can type, and ours had a working
default. A tier instead signs each request with HMAC-SHA256 over its method, target, a
timestamp and its name; the upper tier recomputes that and compares in constant time. A client
never sees the secret, and a captured signature is worth ``MAX_SKEW_S`` seconds for one URL.
"""

import hashlib
import hmac

TIER_AUTH_HEADER = "x-edge-tier-auth"
"""``v1:<pop>:<unix seconds>:<hex HMAC>``, set by a lower tier on its fetches from the upper."""
MAX_SKEW_S = 30
"""How old (or how far ahead, for clocks apart) a tier signature may be."""
_VERSION = "v1"

INTERNAL_HEADERS = frozenset(
    {
        "x-edge-tier-secret",  # the old shared-secret marker: never trusted, never relayed
        "x-forwarded-prefix",  # stackkit mounts docs and links under it
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-forwarded-port",
        "x-forwarded-for",  # the edge is the first hop it trusts; it writes the chain itself
        "forwarded",
        "x-real-ip",
    }
)
INTERNAL_PREFIXES = (
    "x-edge-",  # tier markers, the PoP's own headers
    "x-dispatch-",  # x-dispatch-forwarded: a worker-to-worker hop that skips area ownership
    "cf-",  # what the edge itself stamps (cf-ray, cf-connecting-ip)
)


def is_internal(name: str) -> bool:
    """A header only the stack sets: dropped from every client request at the edge."""
    lowered = name.lower()
    return lowered in INTERNAL_HEADERS or lowered.startswith(INTERNAL_PREFIXES)


def without_internal(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name, value) for name, value in headers if not is_internal(name)]


def _mac(secret: str, method: str, target: str, timestamp: int, pop: str) -> str:
    message = "\n".join((_VERSION, method.upper(), target, str(timestamp), pop))
    return hmac.new(secret.encode(), message.encode("latin-1"), hashlib.sha256).hexdigest()


def sign(secret: str, method: str, target: str, pop: str, now: float) -> str:
    """The tier-auth header value for a request to ``target`` (raw path and query)."""
    timestamp = int(now)
    return f"{_VERSION}:{pop}:{timestamp}:{_mac(secret, method, target, timestamp, pop)}"


def verify(secret: str, value: str | None, method: str, target: str, now: float) -> str | None:
    """The signing PoP's name when ``value`` is a valid, recent signature of this request by a
    tier holding ``secret``; else None (the request is then a client's like any other)."""
    if not value or not secret:
        return None
    version, _, rest = value.partition(":")
    pop, _, rest = rest.partition(":")
    timestamp, _, mac = rest.partition(":")
    if version != _VERSION or not pop or not timestamp.isascii() or not timestamp.isdigit():
        return None
    if len(timestamp) > 12 or abs(now - int(timestamp)) > MAX_SKEW_S:
        return None
    expected = _mac(secret, method, target, int(timestamp), pop)
    return pop if hmac.compare_digest(expected.encode(), mac.encode("latin-1")) else None
