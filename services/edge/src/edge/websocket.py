"""WebSocket pass-through: the client's upgrade is answered only once an origin (a chat gateway)
has accepted the same upgrade; then frames are relayed both ways until either side closes, and
the close code crosses too (1008 flood, 1009 too big). An origin refusing the upgrade (401 for a
bad token) is refused to the client with the same status."""

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
from starlette.types import Message, Receive, Scope, Send
from yarl import URL

from edge.domain import trust
from edge.domain.config import Route
from edge.domain.freshness import header_value
from edge.routing import forwardable_headers
from edge.upstream import CONNECT_TIMEOUT_S, ORIGIN_SITE, origin_fault
from stackkit.errors import NotFound, Unavailable, UpstreamUnreachable
from stackkit.flags import ARMED_FAULTS
from stackkit.http_errors import error_body, status_and_body
from stackkit.logs import get_logger
from stackkit.middleware import new_request_id
from stackkit.request_context import set_request_id

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
CLOSED = (
    aiohttp.WSMsgType.CLOSE,
    aiohttp.WSMsgType.CLOSING,
    aiohttp.WSMsgType.CLOSED,
    aiohttp.WSMsgType.ERROR,
)
NOT_RELAYED = ("sec-websocket-",)  # the handshake's own (aiohttp makes new ones)

log = get_logger(__name__)


@dataclass
class Relays:
    """The relays' own upstream session and budget. A relayed socket holds an upstream
    connection for as long as the client stays, so relays drawing on the request pool let
    ~500 chat clients stall every proxied request of the PoP; past ``limit`` relays an
    upgrade is refused with a 503 instead, and plain requests never wait for a relay."""

    session: aiohttp.ClientSession
    limit: int
    active: int = 0


def _origin_url(origin: str, path: str, query: bytes) -> URL:
    """The path and query as the client sent them (``encoded``: no re-quoting), as for HTTP."""
    url = origin.rstrip("/").replace("http", "ws", 1) + path
    return URL(f"{url}?{query.decode('latin-1')}" if query else url, encoded=True)


async def relay(
    relays: Relays,
    origins: list[str],
    route: Route,
    pop_name: str,
    scope: Scope,
    receive: Receive,
    send: Send,
    on_unreachable: Callable[[str], None] | None = None,
) -> None:
    """Relays one upgrade to the first origin of ``origins`` that takes it (the next after a
    refused connection; ``on_unreachable`` hears of each), within the relay budget."""
    if relays.active >= relays.limit:
        await receive()  # websocket.connect
        message = f"this PoP relays at most {relays.limit} WebSockets; retry on another connection"
        await _deny(
            scope,
            send,
            status_and_body(Unavailable(message, code="relay_capacity")),
            [(b"x-edge-pop", pop_name.encode()), (b"retry-after", b"1")],
        )
        return
    relays.active += 1
    try:
        await _relay(relays.session, origins, route, pop_name, scope, receive, send, on_unreachable)
    finally:
        relays.active -= 1


async def _relay(
    session: aiohttp.ClientSession,
    origins: list[str],
    route: Route,
    pop_name: str,
    scope: Scope,
    receive: Receive,
    send: Send,
    on_unreachable: Callable[[str], None] | None,
) -> None:
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
    request_id = header_value(headers, "x-request-id") or new_request_id()
    set_request_id(request_id)
    edge_headers = [
        (b"x-edge-pop", pop_name.encode()),
        (b"cf-ray", f"{request_id}-{pop_name}".encode()),
    ]
    await receive()  # websocket.connect
    if not route.websocket:
        message = f"/{route.prefix} takes no WebSocket upgrades"
        await _deny(scope, send, status_and_body(NotFound(message, code="not_found")), edge_headers)
        return
    forwarded = [
        (k, v)
        for k, v in trust.without_internal(forwardable_headers(headers))
        if not k.lower().startswith(NOT_RELAYED)
    ]
    client = scope["client"][0] if scope.get("client") else ""
    forwarded += [("x-forwarded-for", client), ("x-request-id", request_id)]
    raw_path = scope.get("raw_path")
    path = route.origin_path(raw_path.decode("latin-1") if raw_path else quote(scope["path"]))
    upstream: aiohttp.ClientWebSocketResponse | None = None
    for origin in origins:
        try:
            fault = ARMED_FAULTS.get(ORIGIN_SITE)
            if fault is not None:
                await origin_fault(fault, CONNECT_TIMEOUT_S)
            upstream = await session.ws_connect(
                _origin_url(origin, path, scope["query_string"]),
                headers=forwarded,
                protocols=scope.get("subprotocols", ()),
                max_msg_size=MAX_MESSAGE_BYTES,
                timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
            )
            break
        except aiohttp.WSServerHandshakeError as exc:
            # The origin's own status (401 for a bad token) crosses, in the stack's body.
            refusal = error_body(
                error_type="invalid_request_error",
                code="upgrade_refused",
                message=f"the origin refused the upgrade ({exc.status})",
            )
            await _deny(scope, send, (exc.status, refusal), edge_headers)
            return
        except (aiohttp.ClientError, OSError) as exc:
            log.warning("websocket_origin_unreachable", origin=origin, error=repr(exc))
            if on_unreachable is not None and isinstance(exc, aiohttp.ClientConnectorError):
                on_unreachable(origin)
    if upstream is None:
        unreachable = UpstreamUnreachable(f"no /{route.prefix} origin is reachable")
        await _deny(scope, send, status_and_body(unreachable), edge_headers)
        return
    await send(
        {"type": "websocket.accept", "subprotocol": upstream.protocol, "headers": edge_headers}
    )
    await _pump(upstream, receive, send)


async def _pump(upstream: aiohttp.ClientWebSocketResponse, receive: Receive, send: Send) -> None:
    async def client_to_origin() -> None:
        while True:
            message: Message = await receive()
            if message["type"] == "websocket.disconnect":
                await upstream.close(code=message.get("code", 1000))
                return
            if message.get("text") is not None:
                await upstream.send_str(message["text"])
            elif message.get("bytes") is not None:
                await upstream.send_bytes(message["bytes"])

    async def origin_to_client() -> None:
        while True:
            frame = await upstream.receive()
            if frame.type is aiohttp.WSMsgType.TEXT:
                await send({"type": "websocket.send", "text": frame.data})
            elif frame.type is aiohttp.WSMsgType.BINARY:
                await send({"type": "websocket.send", "bytes": frame.data})
            elif frame.type in CLOSED:
                reason = frame.extra if isinstance(frame.extra, str) else ""
                break
        with contextlib.suppress(Exception):  # the client may be gone already
            await send(
                {
                    "type": "websocket.close",
                    "code": upstream.close_code or 1000,
                    "reason": reason[:120],
                }
            )

    tasks = [asyncio.create_task(client_to_origin()), asyncio.create_task(origin_to_client())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if not upstream.closed:
            await upstream.close()


async def _deny(
    scope: Scope,
    send: Send,
    answer: tuple[int, dict[str, Any]],
    headers: list[tuple[bytes, bytes]],
) -> None:
    """Refuse the upgrade with ``answer`` (status, error body) where the server supports it
    (ASGI's WebSocket Denial Response), else with a close before accepting (the server sends
    403)."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    status, error = answer
    body = orjson.dumps(error)
    await send(
        {
            "type": "websocket.http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *headers],
        }
    )
    await send({"type": "websocket.http.response.body", "body": body})


async def refuse(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    headers: list[tuple[str, str]],
    body: bytes,
) -> None:
    """Refuse an upgrade the PoP itself turned down (WAF 403, rate limit 429) with that
    response: the client sees the same status and error body as for a plain request."""
    await receive()  # websocket.connect
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    await send(
        {
            "type": "websocket.http.response.start",
            "status": status,
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        }
    )
    await send({"type": "websocket.http.response.body", "body": body})
