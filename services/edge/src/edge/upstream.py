"""Requests from a PoP to origins and to its upper tier, over pooled aiohttp connections.

aiohttp, not httpx: proxying through httpx's AsyncClient pool measured several times slower
(``make bench-edge`` compares both; httpx issue #3215). Bodies pass through as the origin
encoded them (no decompression), and a request is retried on another connection or origin only
when repeating it is safe.
"""

import asyncio
import itertools
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from edge.domain.freshness import Headers
from stackkit.http import KEEPALIVE_EXPIRY_S

SAFE_TO_RETRY = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
IDEMPOTENCY_KEY = "idempotency-key"


class UpstreamFailed(Exception):
    """No response: the upstream was unreachable, reset the connection, or timed out."""

    def __init__(self, message: str, *, timed_out: bool) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class ResponseTooLarge(Exception):
    pass


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


class OriginPicker:
    """Round robin over a route's origins (the chat gateways are two)."""

    def __init__(self) -> None:
        self._counters: dict[tuple[str, ...], itertools.count[int]] = {}

    def order(self, origins: tuple[str, ...]) -> list[str]:
        if len(origins) == 1:
            return list(origins)
        start = next(self._counters.setdefault(origins, itertools.count())) % len(origins)
        return list(origins[start:] + origins[:start])


async def send(
    session: aiohttp.ClientSession,
    method: str,
    urls: list[str],
    headers: Headers,
    body: bytes,
    *,
    timeout_s: float,
    max_body_bytes: int,
) -> UpstreamResponse:
    """Tries ``urls`` in order (the same URL twice is a retry on a fresh connection) while it is
    safe to repeat the request; the last failure is raised as :class:`UpstreamFailed`."""
    attempts = urls if safe_to_retry(method, headers) else urls[:1]
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    failure: UpstreamFailed | None = None
    for url in attempts:
        try:
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
        except TimeoutError as exc:
            failure = UpstreamFailed(f"{url}: timed out after {timeout_s} s", timed_out=True)
            failure.__cause__ = exc
            break  # the origin may still be working on it: do not pile on
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
            failure = UpstreamFailed(f"{url}: {exc!r}", timed_out=False)
            failure.__cause__ = exc
    assert failure is not None
    raise failure
