"""One pure-ASGI middleware: request id, metrics by route template, one access log line."""

import re
import time
import uuid

import orjson
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stackkit.http_errors import error_body
from stackkit.logs import get_logger
from stackkit.metrics import HttpMetrics
from stackkit.request_context import set_request_id
from stackkit.tracing import set_attribute

REQUEST_ID_HEADER = "x-request-id"
FORWARDED_PREFIX_HEADER = b"x-forwarded-prefix"
_PREFIX = re.compile(r"/[a-z][a-z0-9-]*")
_QUIET_PATHS = ("/healthz", "/readyz", "/metrics")

log = get_logger("stackkit.access")


def new_request_id() -> str:
    return f"req_{uuid.uuid4().hex[:24]}"


class RequestMiddleware:
    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        prefix = headers.get(FORWARDED_PREFIX_HEADER, b"").decode("latin-1").rstrip("/")
        if _PREFIX.fullmatch(prefix):
            # Behind the edge at /payments: links the app generates (the docs' openapi.json)
            # must carry the prefix the client used. ASGI's path includes root_path.
            scope = {**scope, "root_path": prefix, "path": prefix + scope["path"]}
        incoming = headers.get(REQUEST_ID_HEADER.encode())
        # Keep a caller's id (the edge sets one) so one id follows a request across services.
        request_id = incoming.decode("latin-1")[:64] if incoming else new_request_id()
        set_request_id(request_id)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        set_attribute("stack.request_id", request_id)  # from a trace to the request's log lines
        status = 500
        response_started = False
        started = time.perf_counter()

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception as exc:
            if scope["type"] != "http" or response_started:
                raise
            log.exception("unhandled_error", error=repr(exc))
            await self._internal_error(send_with_request_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "WS")
            if scope["type"] == "http":
                self.metrics.observe(method, route, status, elapsed)
            if not scope["path"].endswith(_QUIET_PATHS):
                log.info(
                    "request",
                    method=method,
                    path=scope["path"],
                    route=route,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                )
            structlog.contextvars.unbind_contextvars("request_id")
            set_request_id(None)

    @staticmethod
    async def _internal_error(send: Send) -> None:
        body = orjson.dumps(
            error_body(error_type="api_error", code="internal_error", message="internal error")
        )
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 500, "headers": headers})
        await send({"type": "http.response.body", "body": body})
