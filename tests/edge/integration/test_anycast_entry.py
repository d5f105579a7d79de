"""The anycast entry over raw sockets: what it answers itself is the stack's JSON error, and
what it passes on carries none of the headers only the stack may set."""

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from edge import anycast
from edge.anycast import AnycastEntry
from edge.settings import AnycastSettings

pytestmark = pytest.mark.integration
POP_ANSWER = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"


@dataclass
class StandInPop:
    """A PoP that records each connection's first head and answers 200."""

    port: int = 0
    heads: list[bytes] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(POP_ANSWER)
        await writer.drain()
        writer.close()


@dataclass
class Entry:
    port: int
    pop: StandInPop


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _serve(pops: str) -> tuple[asyncio.Server, int]:
    entry = AnycastEntry(AnycastSettings(pops=pops))
    server = await asyncio.start_server(entry.handle, "127.0.0.1", 0, limit=anycast.HEAD_LIMIT)
    return server, server.sockets[0].getsockname()[1]


@pytest.fixture
async def entry() -> AsyncIterator[Entry]:
    pop = StandInPop()
    pop_server = await asyncio.start_server(pop.handle, "127.0.0.1", 0)
    pop.port = pop_server.sockets[0].getsockname()[1]
    server, port = await _serve(f"pop-1@eu-west=127.0.0.1:{pop.port}")
    async with pop_server, server:
        yield Entry(port, pop)


async def exchange(port: int, data: bytes) -> bytes:
    """Send raw bytes, read until the entry closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(30):
            return await reader.read()
    finally:
        writer.close()


def parsed(raw: bytes) -> tuple[int, dict[str, str], dict[str, object]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
    assert int(headers["content-length"]) == len(body)
    return int(status_line.split(" ")[1]), headers, json.loads(body)


def assert_error_shape(raw: bytes, status: int, code: str) -> None:
    got, headers, body = parsed(raw)
    assert got == status, raw
    assert headers["content-type"] == "application/json"
    error = body["error"]
    assert isinstance(error, dict)
    assert set(error) == {"type", "code", "message", "param", "request_id"}
    assert error["code"] == code
    assert error["request_id"] == headers["x-request-id"]
    assert error["type"] == ("api_error" if status >= 500 else "invalid_request_error")


@pytest.mark.parametrize(
    "head",
    [b"HELLO\r\n\r\n", b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
     b"GET / HTTP/2.0\r\nhost: x\r\n\r\n", b"GET / HTTP/1.1\r\nbad name: x\r\n\r\n",
     b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n"],
)  # fmt: skip
async def test_a_malformed_head_is_a_json_400(entry: Entry, head: bytes) -> None:
    assert_error_shape(await exchange(entry.port, head), 400, "malformed_request")
    assert entry.pop.heads == []  # never reached a PoP


async def test_a_head_too_large_is_a_json_431(entry: Entry) -> None:
    huge = b"GET / HTTP/1.1\r\nx-big: " + b"a" * (anycast.HEAD_LIMIT + 10) + b"\r\n\r\n"
    assert_error_shape(await exchange(entry.port, huge), 431, "head_too_large")


async def test_no_head_in_time_is_a_json_408(entry: Entry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(anycast, "HEAD_TIMEOUT_S", 0.5)  # the entry's 10 s, shortened
    assert_error_shape(await exchange(entry.port, b"GET / HTTP/1.1\r\n"), 408, "request_timeout")


async def test_no_reachable_pop_is_a_json_503() -> None:
    server, port = await _serve(f"pop-1@eu-west=127.0.0.1:{_closed_port()}")
    async with server:
        raw = await exchange(port, b"GET /catalog/v1/titles HTTP/1.1\r\nhost: x\r\n\r\n")
    assert_error_shape(raw, 503, "no_pop_reachable")


async def test_internal_headers_never_leave_the_entry(entry: Entry) -> None:
    head = (
        b"GET /catalog/v1/titles/7?x=%23 HTTP/1.1\r\nHost: edge\r\n"
        b"X-Edge-Tier-Secret: dev-tier-secret\r\nx-edge-tier-auth: v1:pop-2:1:ab\r\n"
        b"x-dispatch-forwarded: dispatch-2\r\nx-forwarded-prefix: /evil\r\n"
        b"x-forwarded-for: 6.6.6.6\r\ncf-connecting-ip: 6.6.6.6\r\n"
        b"authorization: Bearer mine\r\nx-client-region: us-east\r\n\r\n"
    )
    raw = await exchange(entry.port, head)
    assert raw == POP_ANSWER
    (forwarded,) = entry.pop.heads
    assert forwarded == (
        b"GET /catalog/v1/titles/7?x=%23 HTTP/1.1\r\nHost: edge\r\n"
        b"authorization: Bearer mine\r\nx-client-region: us-east\r\n\r\n"
    )
