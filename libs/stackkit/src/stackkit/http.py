"""HTTP clients for the calls the stack's processes make: to each other, and out (webhooks)."""

import httpx

# uvicorn closes idle keep-alive connections after 5 s. A client that keeps them longer can
# send a request on a connection the server is closing at that very moment, and get
# "server disconnected" for a request the server never saw: drop idle connections sooner.
KEEPALIVE_EXPIRY_S = 2.0
MAX_KEEPALIVE_CONNECTIONS = 100


def internal_client(
    timeout_s: float,
    *,
    max_connections: int = 500,
    base_url: str = "",
    retries: int = 1,
    trust_env: bool = True,
) -> httpx.AsyncClient:
    """A pooled client that never follows redirects (a 3xx is the answer, for the caller to
    judge). A connection that fails to open is retried ``retries`` times: nothing was sent, so
    that is safe for any request. Proxies from the environment never apply (the client has its
    own transport); a client for targets outside the stack (webhooks) passes
    ``trust_env=False`` so that TLS trusts the default CA bundle only, not one that
    ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` names."""
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=MAX_KEEPALIVE_CONNECTIONS,
        keepalive_expiry=KEEPALIVE_EXPIRY_S,
    )
    # The limits belong to the transport: a client given a transport ignores its own.
    transport = httpx.AsyncHTTPTransport(retries=retries, limits=limits, trust_env=trust_env)
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=timeout_s,
        follow_redirects=False,
        transport=transport,
        trust_env=trust_env,
    )
