"""HTTP clients for calls between the stack's processes."""

import httpx

# uvicorn closes idle keep-alive connections after 5 s. A client that keeps them longer can
# send a request on a connection the server is closing at that very moment, and get
# "server disconnected" for a request the server never saw: drop idle connections sooner.
KEEPALIVE_EXPIRY_S = 2.0


def internal_client(timeout_s: float, *, max_connections: int = 500) -> httpx.AsyncClient:
    """A pooled client for service-to-service calls; connection failures are retried once."""
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=100,
        keepalive_expiry=KEEPALIVE_EXPIRY_S,
    )
    # The limits belong to the transport: a client given a transport ignores its own.
    transport = httpx.AsyncHTTPTransport(retries=1, limits=limits)
    return httpx.AsyncClient(timeout=timeout_s, follow_redirects=False, transport=transport)
