"""The one gate strings pass on their way in: what the stores cannot hold is a 400 here.

Postgres cannot store a NUL byte in ``text`` nor an integer past 64 bits in ``bigint``, and a
JSON document nested thousands deep exhausts Python's recursion in any parser after ours. Each
of those reached a service as a 500. Rather than a check per field (and the field nobody
thought of), every request crosses this pure-ASGI gate before routing: path, query string,
header values, and JSON or form bodies. A rejection names the parameter and is rendered by the
app's renderer, so each service answers in the shape its clients understand (Slack's
``{"ok": false}`` for chat's Web API, the stack's error model elsewhere).
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stackkit.http_errors import error_body

MAX_DEPTH = 32
"""Deepest JSON nesting (or bracketed form key) accepted; real bodies here are under 6."""
MAX_BODY_BYTES = 1024 * 1024
"""Largest body buffered for inspection (the biggest legitimate batch is ~200 KiB)."""
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# Every digit becomes "0", everything else a space: a run of 19 zeros is then one C-speed
# search (a regex tries every start position). No shorter run of digits can leave int64.
_DIGITS_AS_ZEROS = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_LONG_DIGITS = b"0" * 19
_JSON_TYPES = ("application/json",)


@dataclass(frozen=True)
class Rejection:
    """Why the gate refused a request; ``param`` names what was wrong when it can."""

    status: int
    code: str
    message: str
    param: str | None = None


Renderer = Callable[[Scope, Rejection], tuple[int, dict[str, Any]]]
"""Turns a rejection into (status, JSON body) for one app's clients."""


def stack_error(_: Scope, rejection: Rejection) -> tuple[int, dict[str, Any]]:
    """The stack's error model: ``{"error": {"type", "code", "message", "param", ...}}``."""
    body = error_body(
        error_type="invalid_request_error",
        code=rejection.code,
        message=rejection.message,
        param=rejection.param,
    )
    return rejection.status, body


class Rejected(Exception):
    """Raised by :func:`inspect_head` and :func:`inspect_body`; carries the rejection."""

    def __init__(self, rejection: Rejection) -> None:
        super().__init__(rejection.message)
        self.rejection = rejection


def _nul(param: str | None) -> Rejected:
    shown = param or "request"
    return Rejected(
        Rejection(400, "parameter_invalid", f"{shown}: NUL bytes are not allowed", param)
    )


def _check_text_pairs(pairs: list[tuple[str, str]]) -> None:
    """Query strings and form bodies: no NUL in keys or values, no absurdly deep keys."""
    for key, value in pairs:
        if "\x00" in key or "\x00" in value:
            raise _nul(key.replace("\x00", "") or None)
        if key.count("[") > MAX_DEPTH:
            raise Rejected(
                Rejection(400, "parameter_invalid", "parameter name nested too deeply", key[:100])
            )


def _child(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _check_json_value(document: Any) -> None:
    """Walks a parsed JSON document without recursion: NUL in strings or keys, integers past
    64 bits, nesting past :data:`MAX_DEPTH`. Raises :class:`Rejected` naming the dotted path."""
    stack: list[tuple[Any, str, int]] = [(document, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise _nul(path or None)
        elif isinstance(value, bool) or value is None or isinstance(value, float):
            continue
        elif isinstance(value, int):
            if not INT64_MIN <= value <= INT64_MAX:
                message = f"{path or 'body'}: integers must fit in 64 bits"
                raise Rejected(Rejection(400, "parameter_invalid", message, path or None))
        else:
            if depth >= MAX_DEPTH:
                message = f"JSON nested deeper than {MAX_DEPTH} levels"
                raise Rejected(Rejection(400, "parameter_invalid", message, path or None))
            if isinstance(value, dict):
                for key, item in value.items():
                    if "\x00" in key:
                        raise _nul(_child(path, key.replace("\x00", "")))
                    stack.append((item, _child(path, key), depth + 1))
            else:
                stack.extend((item, _child(path, i), depth + 1) for i, item in enumerate(value))


def _check_json_body(body: bytes) -> None:
    """Rejects what the stack's stores and parsers cannot take; a body the gate accepts parses
    in ``json.loads`` as well (no recursion error, no NaN, no lone surrogate)."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        deep = "depth limit" in str(exc) or "recursion" in str(exc)
        message = f"JSON nested deeper than {MAX_DEPTH} levels" if deep else f"Invalid JSON: {exc}"
        raise Rejected(Rejection(400, "invalid_json", message)) from None
    long_digits = _LONG_DIGITS in body.translate(_DIGITS_AS_ZEROS)
    if b"\\u0000" not in body and not long_digits:
        # The common case: no string can hold a NUL, no number can leave int64; only the depth
        # is left, counted over containers only (and not at all when there are few brackets).
        few = body.count(b"[") + body.count(b"{") <= MAX_DEPTH
        if not few and _deeper_than(parsed, MAX_DEPTH):
            message = f"JSON nested deeper than {MAX_DEPTH} levels"
            raise Rejected(Rejection(400, "parameter_invalid", message))
        return
    if long_digits:
        # orjson turns integers past 64 bits into floats; the stdlib keeps them exact. The
        # depth check first keeps the stdlib's recursive parser safe.
        _check_json_value(parsed)
        parsed = json.loads(body)
    _check_json_value(parsed)


def _deeper_than(document: Any, limit: int) -> bool:
    """Whether a parsed document nests deeper than ``limit``, visiting containers only."""
    level: list[Any] = [document] if isinstance(document, (dict, list)) else []
    for _ in range(limit):
        if not level:
            return False
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, (dict, list))
        ]
    return bool(level)


def _form_pairs(raw: bytes) -> list[tuple[str, str]]:
    return parse_qsl(raw.decode("latin-1"), keep_blank_values=True, encoding="utf-8",
                     errors="replace")  # fmt: skip


def _might_hold_nul(raw: bytes) -> bool:
    # In URL encoding a NUL is either raw or the one escape %00 (which cannot overlap another).
    return b"\x00" in raw or b"%00" in raw


def _brackets(raw: bytes) -> int:
    return raw.count(b"[") + raw.lower().count(b"%5b")


def _path_param(scope: Scope) -> str | None:
    app = scope.get("app")
    for route in getattr(getattr(app, "router", None), "routes", []):
        match, child = route.matches(scope)
        if match == Match.FULL:
            for name, value in child.get("path_params", {}).items():
                if "\x00" in str(value):
                    return str(name)
    return None


def inspect_head(scope: Scope) -> None:
    """Path, query string and header values; raises :class:`Rejected`."""
    if "\x00" in scope["path"]:
        raise _nul(_path_param(scope) or "path")
    query: bytes = scope.get("query_string", b"")
    if _might_hold_nul(query) or _brackets(query) > MAX_DEPTH:
        _check_text_pairs(_form_pairs(query))
    for name, value in scope["headers"]:
        if b"\x00" in value:
            raise _nul(name.decode("latin-1"))


def inspect_body(content_type: str, body: bytes) -> None:
    """A JSON or form body (what the services read as forms); raises :class:`Rejected`."""
    if not body:
        return
    media = content_type.split(";")[0].strip().lower()
    if media in _JSON_TYPES or media.endswith("+json"):
        _check_json_body(body)
    elif media.startswith("multipart/"):
        return  # no service here reads multipart; Starlette's parser bounds it
    elif _might_hold_nul(body) or _brackets(body) > MAX_DEPTH:
        # Form bodies, and what the services read as forms (no or another content type).
        _check_text_pairs(_form_pairs(body))


class InputGate:
    """Pure-ASGI middleware in front of the routes; buffers a body up to ``max_body_bytes``."""

    def __init__(
        self, app: ASGIApp, render: Renderer = stack_error, max_body_bytes: int = MAX_BODY_BYTES
    ) -> None:
        self.app = app
        self.render = render
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            inspect_head(scope)
            body = await self._read_body(scope, receive)
            content_type = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1")
            inspect_body(content_type, body)
        except Rejected as rejected:
            await self._reject(scope, send, rejected.rejection)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise self._too_large()
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client left; the app sees an empty body and its own disconnect
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _too_large(self) -> Rejected:
        message = f"Request bodies are limited to {self.max_body_bytes} bytes."
        return Rejected(Rejection(413, "request_too_large", message))

    async def _reject(self, scope: Scope, send: Send, rejection: Rejection) -> None:
        status, payload = self.render(scope, rejection)
        body = orjson.dumps(payload)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
