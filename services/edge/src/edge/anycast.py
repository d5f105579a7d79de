"""The stack's stand-in for BGP anycast: one address in front of the PoPs.

``python -m edge.anycast --host 0.0.0.0 --port 8000``. It reads the first request head of each
connection only to learn where the client is (an ``x-client-region`` hint, else the client's
address mapped by ``ANYCAST_CLIENT_NETWORKS``), connects to the nearest healthy PoP and from
then on splices bytes both ways untouched, as a network would: keep-alive requests and WebSocket
frames on that connection all go to that PoP. PoPs are probed every ``ANYCAST_PROBE_INTERVAL_S``;
one that fails a probe or a connection is withdrawn (as a PoP stops announcing its routes) and
new connections go to the next nearest. ``GET /_anycast/status`` answers here, not at a PoP.
"""

import argparse
import asyncio
import contextlib
import re
import time
from dataclasses import dataclass, field

import orjson

from edge.domain import trust
from edge.domain.anycast import (
    REGION_HINT_HEADER,
    Networks,
    Pop,
    client_region,
    parse_networks,
    parse_pops,
    rank,
)
from edge.settings import AnycastSettings
from stackkit.http_errors import error_body
from stackkit.logs import configure_logging, get_logger
from stackkit.middleware import new_request_id
from stackkit.request_context import set_request_id
from stackkit.signals import until_terminated

HEAD_LIMIT = 64 * 1024
HEAD_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 1.0
PROBE_TIMEOUT_S = 1.0
CHUNK = 64 * 1024
REQUEST_LINE = re.compile(rb"[A-Z]{1,16} [\x21-\x7e]{1,65536} HTTP/1\.[01]")
HEADER_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}")  # RFC 9110 token

log = get_logger("edge.anycast")


@dataclass
class PopHealth:
    healthy: bool = True
    since: float = field(default_factory=time.time)
    connections: int = 0
    failures: int = 0


def _header(head: bytes, name: bytes) -> str | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip().decode("latin-1")
    return None


def _http(status: str, body: bytes, request_id: str = "") -> bytes:
    extra = f"x-request-id: {request_id}\r\n" if request_id else ""
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{extra}"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


def _error(status: str, code: str, message: str) -> bytes:
    """An answer the entry gives itself, in the stack's one error shape."""
    request_id = new_request_id()
    set_request_id(request_id)
    error_type = "api_error" if status.startswith("5") else "invalid_request_error"
    body = orjson.dumps(error_body(error_type=error_type, code=code, message=message))
    return _http(status, body, request_id)


def _checked_head(head: bytes) -> bytes | None:
    """The head as it goes on to a PoP, without the headers only the stack may set (the PoP
    drops them too; this entry is the first hop that can); None when it is not HTTP/1."""
    request_line, *lines = head[:-4].split(b"\r\n")
    if not REQUEST_LINE.fullmatch(request_line):
        return None
    kept = [request_line]
    for line in lines:
        name, colon, _ = line.partition(b":")
        if not colon or not HEADER_NAME.fullmatch(name):
            return None
        if not trust.is_internal(name.decode("latin-1")):
            kept.append(line)
    return b"\r\n".join(kept) + b"\r\n\r\n"


class AnycastEntry:
    def __init__(self, settings: AnycastSettings) -> None:
        self.pops = parse_pops(settings.pops)
        self.networks: Networks = parse_networks(settings.client_networks)
        self.default_region = settings.default_region
        self.probe_interval_s = settings.probe_interval_s
        self.health = {pop.name: PopHealth() for pop in self.pops}

    def healthy(self) -> set[str]:
        return {name for name, health in self.health.items() if health.healthy}

    def _mark(self, pop: Pop, healthy: bool) -> None:
        health = self.health[pop.name]
        if health.healthy != healthy:
            health.healthy, health.since = healthy, time.time()
            log.warning("pop_announced" if healthy else "pop_withdrawn", pop=pop.name)
        if not healthy:
            health.failures += 1

    async def probe_forever(self) -> None:
        while True:
            await asyncio.gather(*(self._probe(pop) for pop in self.pops))
            await asyncio.sleep(self.probe_interval_s)

    async def _probe(self, pop: Pop) -> None:
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                reader, writer = await asyncio.open_connection(pop.host, pop.port)
                writer.write(b"GET /healthz HTTP/1.1\r\nhost: anycast\r\nconnection: close\r\n\r\n")
                status_line = await reader.readline()
            self._mark(pop, status_line.split(b" ")[1:2] == [b"200"])
        except (OSError, TimeoutError, IndexError):
            self._mark(pop, False)
        finally:
            if writer is not None:
                writer.close()

    def status(self) -> dict[str, object]:
        return {
            "pops": [
                {"name": pop.name, "region": pop.region, "address": f"{pop.host}:{pop.port}",
                 "healthy": self.health[pop.name].healthy,
                 "connections": self.health[pop.name].connections}
                for pop in self.pops
            ],
            "default_region": self.default_region,
        }  # fmt: skip

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(HEAD_TIMEOUT_S):
                head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            message = f"the request head is over {HEAD_LIMIT} bytes"
            writer.write(_error("431 Request Header Fields Too Large", "head_too_large", message))
            return
        except TimeoutError:
            message = f"no complete request head within {HEAD_TIMEOUT_S:g} s"
            writer.write(_error("408 Request Timeout", "request_timeout", message))
            return
        if head.startswith(b"GET /_anycast/status "):
            writer.write(_http("200 OK", orjson.dumps(self.status())))
            return
        checked = _checked_head(head)
        if checked is None:
            writer.write(_error("400 Bad Request", "malformed_request", "not an HTTP/1.x request"))
            return
        head = checked
        peer = writer.get_extra_info("peername")
        region = client_region(
            _header(head, REGION_HINT_HEADER.encode()),
            peer[0] if peer else "",
            self.networks,
            self.default_region,
        )
        for pop in rank(self.pops, region, self.healthy()):
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT_S):
                    pop_reader, pop_writer = await asyncio.open_connection(pop.host, pop.port)
            except (OSError, TimeoutError):
                self._mark(pop, False)
                continue
            self.health[pop.name].connections += 1
            try:
                pop_writer.write(head)
                await _splice(reader, writer, pop_reader, pop_writer)
            finally:
                self.health[pop.name].connections -= 1
                pop_writer.close()
            return
        writer.write(_error("503 Service Unavailable", "no_pop_reachable", "no PoP is reachable"))


async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while chunk := await source.read(CHUNK):
            sink.write(chunk)
            await sink.drain()
        if sink.can_write_eof():
            sink.write_eof()  # a half-close crosses: the other direction may still be talking
    except (ConnectionError, OSError):
        sink.close()


async def _splice(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    pop_reader: asyncio.StreamReader,
    pop_writer: asyncio.StreamWriter,
) -> None:
    """Until the PoP's side ends. A client's half-close crosses to the PoP, which still
    answers; but once the PoP has closed (its request-head timeout on a later keep-alive
    request, ``connection: close``, a WebSocket's end) nothing the client sends can be
    answered, so the entry lets go of the client too instead of holding its socket."""
    to_pop = asyncio.create_task(_copy(client_reader, pop_writer))
    try:
        await _copy(pop_reader, client_writer)
    finally:
        to_pop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await to_pop


async def serve(settings: AnycastSettings, host: str, port: int) -> None:
    entry = AnycastEntry(settings)
    prober = asyncio.create_task(entry.probe_forever())
    server = await asyncio.start_server(entry.handle, host, port, limit=HEAD_LIMIT)
    log.info("anycast_listening", host=host, port=port, pops=[p.name for p in entry.pops])
    try:
        async with server:
            await server.serve_forever()
    finally:
        prober.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await prober


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    settings = AnycastSettings()
    configure_logging("edge-anycast", settings.log_level)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(until_terminated(serve(settings, args.host, args.port)))


if __name__ == "__main__":
    main()
