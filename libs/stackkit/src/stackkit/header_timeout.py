"""uvicorn's HTTP protocol with a request-head timeout: ``uvicorn --http
stackkit.header_timeout:HeaderTimeoutHttpTools`` (every uvicorn process in devstack.topology).

uvicorn applies no timeout to a request head: its keep-alive timer is cancelled by the first
byte of the next request, and a fresh connection has none at all, so a client sending half a
head holds the connection (and a file descriptor) for ever. Here every head, a connection's
first or any later one on keep-alive, must be complete within ``HTTP_HEADER_TIMEOUT_S``
(default 10 s) of the moment the server starts waiting for it; otherwise the connection gets a
408 in the stack's error shape (or, when not a byte of the head came, is simply closed, as an
idle keep-alive connection is) and is closed. The request body and the app's work are not
timed here.
"""

import asyncio
import os
from typing import Any

import orjson

from stackkit.http_errors import error_body
from stackkit.parse_errors import JsonErrorsHttpTools

HEADER_TIMEOUT_ENV = "HTTP_HEADER_TIMEOUT_S"
DEFAULT_HEADER_TIMEOUT_S = 10.0


def header_timeout_s() -> float:
    """The configured timeout; an unset or unusable value is the default (never no timeout)."""
    try:
        value = float(os.environ.get(HEADER_TIMEOUT_ENV, DEFAULT_HEADER_TIMEOUT_S))
    except ValueError:
        return DEFAULT_HEADER_TIMEOUT_S
    return value if value > 0 else DEFAULT_HEADER_TIMEOUT_S


def timeout_response() -> bytes:
    body = orjson.dumps(
        error_body(
            error_type="invalid_request_error",
            code="request_timeout",
            message="the request head did not arrive in time",
        )
    )
    return (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
    )


class HeaderTimeoutHttpTools(JsonErrorsHttpTools):
    """The timer runs while the server waits for a head: from the connection's start and from
    each response's end (with nothing pipelined) until the head is parsed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout_s = header_timeout_s()
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_started = False

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self._header_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._head_started:
            self.transport.write(timeout_response())
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        self._head_started = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        self._head_started = False
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # A pipelined request already has its head; its own response end re-arms the timer.
        if not self.transport.is_closing() and not self.pipeline:
            self._arm_head_timer()
