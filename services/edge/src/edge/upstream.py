"""Requests from a PoP to origins and to its upper tier, over pooled aiohttp connections.

aiohttp, not httpx: proxying through httpx's AsyncClient pool measured several times slower
(``make bench-edge`` compares both; httpx issue #3215). Bodies pass through as the origin
encoded them (no decompression), and a request is retried on another connection or origin only
when repeating it is safe.

Every attempt at an origin (a request, a health probe, a WebSocket upgrade) first meets the
``fault.origin`` flag: unarmed, one dict lookup; armed, the latency, refusal or hang of a real
origin (:class:`OriginFaultInjected`, within the attempt's own timeout).
"""

import asyncio
import errno
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from edge.domain.freshness import Headers
from stackkit.errors import UpstreamUnreachable
from stackkit.fault_plan import FaultConfig
from stackkit.faults import FaultInjected, apply_fault
from stackkit.flags import ARMED_FAULTS
from stackkit.http import KEEPALIVE_EXPIRY_S

CONNECT_TIMEOUT_S = 2.0
"""A connection not made by then goes to the next instance (a blackholed host never refuses)."""
PROBE_TIMEOUT_S = 1.0
SAFE_TO_RETRY = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
IDEMPOTENCY_KEY = "idempotency-key"
ORIGIN_SITE = "origin"
"""The fault site of every attempt at an origin: flag ``fault.origin``."""


class OriginFaultInjected(FaultInjected, aiohttp.ClientConnectorError):
    """Like an origin refusing the connection: what aiohttp raises for an unreachable host
    (``aiohttp.ClientConnectorError``), so failover, origin health, stale-if-error and the
    502 treat it exactly as that."""

    def __init__(self, site: str) -> None:
        # Not ClientConnectorError's __init__: it takes the connection key of a real attempt.
        # What it sets (an OSError's errno and the cause) is set here without one.
        message = f"fault injected at {site} (flag fault.{site})"
        OSError.__init__(self, errno.ECONNREFUSED, message)
        self._os_error = ConnectionRefusedError(errno.ECONNREFUSED, message)
        self.args = (message,)
        self.site = site

    def __str__(self) -> str:
        return str(self.args[0])


async def origin_fault(fault: FaultConfig, timeout_s: float) -> None:
    """Apply an armed ``fault.origin`` to one attempt (the caller looked it up in
    ``ARMED_FAULTS``, so an unarmed site awaits nothing). Its latency counts against the
    attempt's timeout and a hang ends there, with the ``TimeoutError`` a hung origin gives."""
    async with asyncio.timeout(timeout_s):
        await apply_fault(ORIGIN_SITE, fault, OriginFaultInjected)


class UpstreamFailed(Exception):
    """No response: the upstream was unreachable, reset the connection, or timed out."""

    def __init__(self, message: str, *, timed_out: bool) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class ResponseTooLarge(UpstreamUnreachable):
    """The upstream's answer is over the limit: a 502 like an unreachable upstream (none of
    it reaches the client), but not a failure to fall back from or serve stale over."""

    code = "upstream_response_too_large"


@dataclass(frozen=True)
class UpstreamResponse:
    status: int
    headers: Headers
    body: bytes


def safe_to_retry(method: str, headers: Headers) -> bool:
    """Idempotent methods, and POSTs carrying a Stripe-style idempotency key."""
    return method in SAFE_TO_RETRY or any(k.lower() == IDEMPOTENCY_KEY for k, _ in headers)


def open_session(max_connections: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        limit=max_connections, keepalive_timeout=KEEPALIVE_EXPIRY_S, enable_cleanup_closed=True
    )
    return aiohttp.ClientSession(
        connector=connector,
        auto_decompress=False,
        skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


def open_relay_session() -> aiohttp.ClientSession:
    """The WebSocket relays' own session: a relayed socket holds its upstream connection for
    hours, so relays drawing on the request pool let ~500 chat clients stall every proxied
    request. This connector has no limit of its own; the relay budget bounds it."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, enable_cleanup_closed=True),
        skip_auto_headers=("User-Agent",),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


async def send(
    session: aiohttp.ClientSession,
    method: str,
    urls: list[str],
    headers: Headers,
    body: bytes,
    *,
    timeout_s: float,
    max_body_bytes: int,
    on_unreachable: Callable[[str], None] | None = None,
    fault_site: str | None = ORIGIN_SITE,
) -> UpstreamResponse:
    """Tries ``urls`` in order (the same URL twice is a retry on a fresh connection): after a
    connection that could not be made, always (the request never reached the origin); after
    any other failure only when it is safe to repeat the request. ``on_unreachable`` hears of
    every URL whose connection was refused. The last failure is raised as
    :class:`UpstreamFailed`. Each attempt meets the fault at ``fault_site`` (None: the upper
    tier, which is no origin)."""
    repeatable = safe_to_retry(method, headers)
    timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(CONNECT_TIMEOUT_S, timeout_s))
    failure: UpstreamFailed | None = None
    for url in urls:
        try:
            fault = ARMED_FAULTS.get(fault_site) if fault_site else None
            if fault is not None:
                await origin_fault(fault, timeout_s)
            async with session.request(
                method,
                URL(url, encoded=True),  # as received: no re-quoting of `%23`, `%2F`, `%41`
                headers=CIMultiDict(headers),
                data=body or None,
                allow_redirects=False,
                timeout=timeout,
            ) as response:
                if (response.content_length or 0) > max_body_bytes:
                    raise ResponseTooLarge(f"{response.content_length} bytes")
                chunks, size = [], 0
                async for chunk in response.content.iter_chunked(64 * 1024):
                    size += len(chunk)
                    if size > max_body_bytes:
                        raise ResponseTooLarge(f"over {max_body_bytes} bytes")
                    chunks.append(chunk)
                content = b"".join(chunks)
                return UpstreamResponse(
                    response.status,
                    [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers],
                    content,
                )
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            failure = UpstreamFailed(f"{url}: {exc!r}", timed_out=False)
            failure.__cause__ = exc
            if on_unreachable is not None:
                on_unreachable(url)
        except TimeoutError as exc:
            failure = UpstreamFailed(f"{url}: timed out after {timeout_s} s", timed_out=True)
            failure.__cause__ = exc
            break  # the origin may still be working on it: do not pile on
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
            failure = UpstreamFailed(f"{url}: {exc!r}", timed_out=False)
            failure.__cause__ = exc
            if not repeatable:
                break  # the origin may have acted on it: a second copy could act twice
    assert failure is not None
    raise failure


async def probe(session: aiohttp.ClientSession, origin: str) -> bool:
    """An active health probe: ``/readyz`` answers below 500. A 404 counts as alive (an origin
    added through the config plane need not have ``/readyz``); a 503 (not ready), a refused
    connection or no answer within the probe timeout count as down."""
    try:
        fault = ARMED_FAULTS.get(ORIGIN_SITE)
        if fault is not None:
            await origin_fault(fault, PROBE_TIMEOUT_S)
        async with session.get(
            f"{origin.rstrip('/')}/readyz",
            timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT_S),
            allow_redirects=False,
        ) as response:
            await response.read()
            return response.status < 500
    except (aiohttp.ClientError, OSError, TimeoutError):
        return False
