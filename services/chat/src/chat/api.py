"""Slack's Web API, the methods this stack serves: ``GET|POST /api/<method>``, a bearer token
(or ``token`` parameter), parameters in the query, a form or a JSON body, answers
``{"ok": true, ...}`` or ``{"ok": false, "error": "<code>"}`` with HTTP 200, as Slack does
(``ratelimited`` is a 429 with ``Retry-After``). The official ``slack_sdk`` ``WebClient`` works
with ``base_url="http://<host>/chat/api/"``.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl

import orjson
import redis.asyncio as aioredis
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, ORJSONResponse
from pydantic import BaseModel, Field
from starlette.types import Scope

from chat.domain.slack import (
    CHANNEL_NAME,
    MAX_TEXT,
    USER_NAME,
    decode_cursor,
    encode_cursor,
    parse_ts,
)
from chat.presence import presence_of
from chat.ratelimit import RateLimiter
from chat.store import ChatStore, User
from stackkit.authorization import bearer_token
from stackkit.errors import DomainError, Invalid
from stackkit.gate import INT64_MAX, Rejection, stack_error
from stackkit.logs import get_logger
from stackkit.service import development_only, from_state

router = APIRouter()
log = get_logger(__name__)

SLACK_ERRORS: dict[str, str] = {
    "channel_not_found": "channel_not_found",
    "not_in_channel": "not_in_channel",
    "user_not_found": "user_not_found",
    "name_taken": "name_taken",
    "invalid_cursor": "invalid_cursor",
}
"""The Slack ``error`` a domain error's ``code`` answers as; any other is ``invalid_arguments``
(an unparsable ``oldest``, say), so a client only ever sees errors Slack documents."""


class SlackError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


Store = Annotated[ChatStore, from_state("store")]
Limiter = Annotated[RateLimiter, from_state("limiter")]
Redis = Annotated["aioredis.Redis", from_state("redis")]


@dataclass
class Call:
    """One method call: who calls, with what, and the collaborators a method may use."""

    user: User
    params: dict[str, str]
    store: ChatStore
    redis: "aioredis.Redis"
    request: Request

    def text(self, name: str, error: str | None = None) -> str:
        value = self.params.get(name, "").strip()
        if not value and error:
            raise SlackError(error)
        return value

    def limit(self, default: int, most: int) -> int:
        raw = self.params.get("limit", "")
        try:
            value = int(raw) if raw else default
        except ValueError as exc:
            raise SlackError("invalid_limit") from exc
        return max(1, min(value, most))


Method = Callable[[Call], Awaitable[dict[str, Any]]]
METHODS: dict[str, Method] = {}


def method(name: str) -> Callable[[Method], Method]:
    def register(handler: Method) -> Method:
        METHODS[name] = handler
        return handler

    return register


async def _params(request: Request) -> dict[str, str]:
    params = dict(request.query_params)
    if request.method == "POST":
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            body = orjson.loads(await request.body() or b"{}")
            if not isinstance(body, dict):
                raise SlackError("invalid_json")
            params |= {k: v if isinstance(v, str) else orjson.dumps(v).decode()
                       for k, v in body.items() if v is not None}  # fmt: skip
        else:  # application/x-www-form-urlencoded, what slack_sdk sends by default
            try:
                params |= dict(parse_qsl((await request.body()).decode(), max_num_fields=1000))
            except (UnicodeDecodeError, ValueError) as error:
                raise SlackError("invalid_form_data") from error
    return params


def _token(request: Request, params: dict[str, str]) -> str | None:
    # The header first, as Slack reads it; the ``token`` parameter is the older way.
    return bearer_token(request.headers.get("authorization")) or params.get("token") or None


async def authenticate(store: ChatStore, token: str | None) -> User:
    if not token:
        raise SlackError("not_authed")
    user = await store.user_by_token(token)
    if user is None:
        raise SlackError("invalid_auth")
    return user


@router.api_route("/api/{name}", methods=["GET", "POST"], tags=["web api"],
                  summary="A Slack Web API method")  # fmt: skip
async def call_method(
    name: str, request: Request, store: Store, limiter: Limiter, redis: Redis
) -> JSONResponse:
    try:
        handler = METHODS.get(name)
        if handler is None:
            raise SlackError("unknown_method")
        params = await _params(request)
        user = await authenticate(store, _token(request, params))
        if await limiter.exceeded(user.id, name):
            return ORJSONResponse({"ok": False, "error": "ratelimited"}, status_code=429,
                                  headers={"retry-after": "1"})  # fmt: skip
        answer = await handler(Call(user, params, store, redis, request))
        return ORJSONResponse({"ok": True, **answer})
    except SlackError as error:
        return ORJSONResponse({"ok": False, "error": error.error, **error.extra})
    except DomainError as error:
        return ORJSONResponse({"ok": False, "error": slack_error(error)})
    except orjson.JSONDecodeError:
        return ORJSONResponse({"ok": False, "error": "invalid_json"})
    except Exception:
        log.exception("method_failed", method=name)
        return ORJSONResponse({"ok": False, "error": "fatal_error"}, status_code=500)


def slack_error(error: DomainError) -> str:
    return SLACK_ERRORS.get(error.code, "invalid_arguments")


def render_rejection(scope: Scope, rejection: Rejection) -> tuple[int, dict[str, Any]]:
    """The input gate's 400s as Slack answers bad arguments on the Web API, so ``slack_sdk``
    raises its ``SlackApiError``; the development routes keep the stack's error model."""
    path = scope["path"].removeprefix(scope.get("root_path", ""))
    if not path.startswith("/api/"):
        return stack_error(scope, rejection)
    error = "invalid_json" if rejection.code == "invalid_json" else "invalid_arguments"
    return 200, {"ok": False, "error": error,
                 "response_metadata": {"messages": [f"[ERROR] {rejection.message}"]}}  # fmt: skip


def _page(items: list[Any], limit: int, kind: str, key: Callable[[Any], str]) -> dict[str, Any]:
    more = len(items) > limit
    cursor = encode_cursor(kind, key(items[limit - 1])) if more else ""
    return {"response_metadata": {"next_cursor": cursor}}


def _after(call: Call, kind: str) -> str:
    cursor = call.params.get("cursor", "")
    return decode_cursor(cursor, kind) if cursor else ""


def _seq_cursor(cursor: str) -> int:
    value = decode_cursor(cursor, "seq")
    # A seq is a Postgres bigint: a forged cursor past it is a bad cursor, not a driver error.
    if not (value.isascii() and value.isdigit() and len(value) < 20 and int(value) <= INT64_MAX):
        raise Invalid("a seq cursor past a bigint", code="invalid_cursor", param="cursor")
    return int(value)


def _users(raw: str) -> list[str]:
    return [u.strip() for u in raw.split(",") if u.strip()]


@method("auth.test")
async def auth_test(call: Call) -> dict[str, Any]:
    return {"url": str(call.request.base_url), "team": "Real-World Architectures",
            "user": call.user.name, "team_id": "T0RWA", "user_id": call.user.id}  # fmt: skip


@method("conversations.create")
async def conversations_create(call: Call) -> dict[str, Any]:
    name = call.text("name", "invalid_name_required")
    if not CHANNEL_NAME.match(name):
        raise SlackError("invalid_name_specials")
    private = call.params.get("is_private", "false").lower() in ("true", "1")
    channel = await call.store.create_channel(call.user.id, name, private)
    return {"channel": channel}


@method("conversations.join")
async def conversations_join(call: Call) -> dict[str, Any]:
    channel_id = call.text("channel", "channel_not_found")
    joined = await call.store.join(channel_id, call.user.id)
    channel = await call.store.channel(channel_id, viewer=call.user.id)
    return {"channel": channel} | ({} if joined else {"warning": "already_in_channel"})


@method("conversations.invite")
async def conversations_invite(call: Call) -> dict[str, Any]:
    channel_id = call.text("channel", "channel_not_found")
    users = _users(call.text("users", "no_user"))
    if call.user.id in users:
        raise SlackError("cant_invite_self")
    added = await call.store.invite(channel_id, call.user.id, users)
    if not added:
        raise SlackError("already_in_channel")
    return {"channel": await call.store.channel(channel_id, viewer=call.user.id)}


@method("conversations.leave")
async def conversations_leave(call: Call) -> dict[str, Any]:
    channel_id = call.text("channel", "channel_not_found")
    left = await call.store.leave(channel_id, call.user.id)
    return {} if left else {"not_in_channel": True}


@method("conversations.members")
async def conversations_members(call: Call) -> dict[str, Any]:
    channel_id = call.text("channel", "channel_not_found")
    limit = call.limit(100, 1000)
    found = await call.store.members(channel_id, call.user.id, _after(call, "user"), limit + 1)
    return {"members": found[:limit], **_page(found, limit, "user", str)}


@method("conversations.list")
async def conversations_list(call: Call) -> dict[str, Any]:
    limit = call.limit(100, 1000)
    found = await call.store.list_channels(call.user.id, _after(call, "channel"), limit + 1)
    return {"channels": found[:limit], **_page(found, limit, "channel", lambda c: c["id"])}


@method("conversations.history")
async def conversations_history(call: Call) -> dict[str, Any]:
    channel_id = call.text("channel", "channel_not_found")
    limit = call.limit(100, 1000)
    oldest = parse_ts(call.params["oldest"], param="oldest") if call.params.get("oldest") else 0
    latest = parse_ts(call.params["latest"], param="latest") if call.params.get("latest") else None
    cursor = call.params.get("cursor", "")
    before_seq = _seq_cursor(cursor) if cursor else None
    inclusive = call.params.get("inclusive", "false").lower() in ("true", "1")
    messages, more = await call.store.history(
        channel_id, call.user.id, oldest_us=oldest, latest_us=latest, before_seq=before_seq,
        limit=limit, inclusive=inclusive,
    )  # fmt: skip
    next_cursor = encode_cursor("seq", messages[-1].seq) if more and messages else ""
    return {"messages": [m.as_slack() for m in messages], "has_more": more,
            "pin_count": 0, "response_metadata": {"next_cursor": next_cursor}}  # fmt: skip


@method("chat.postMessage")
async def chat_post_message(call: Call) -> dict[str, Any]:
    channel_id = call.text("channel", "channel_not_found")
    text = call.params.get("text", "")
    if not text.strip():
        raise SlackError("no_text")
    if len(text) > MAX_TEXT:
        raise SlackError("msg_too_long")
    client_msg_id = call.params.get("client_msg_id") or None
    if client_msg_id and len(client_msg_id) > 64:
        raise SlackError("invalid_arguments")
    message, _ = await call.store.post(channel_id, call.user.id, text, client_msg_id)
    return {"channel": channel_id, "ts": message.as_slack()["ts"], "message": message.as_slack()}


@method("users.getPresence")
async def users_get_presence(call: Call) -> dict[str, Any]:
    user_id = call.params.get("user") or call.user.id
    if await call.store.user(user_id) is None:
        raise SlackError("user_not_found")
    presence = await presence_of(call.redis, user_id)
    return {"presence": presence, "online": presence == "active"}


class NewUser(BaseModel):
    name: str = Field(pattern=USER_NAME.pattern)


@router.post(
    "/dev/users",
    tags=["development"],
    summary="Create a user and its token",
    dependencies=[development_only],
)
async def create_dev_user(new: NewUser, store: Store) -> dict[str, str]:
    """A user and an API token for it (``xoxp-...``).

    Development only (``CHAT_DEV_ENDPOINTS``): off in production."""
    user, token = await store.create_user(new.name)
    return {"id": user.id, "name": user.name, "token": token}


class NewUsers(BaseModel):
    prefix: str = Field(pattern=USER_NAME.pattern, max_length=60)
    count: int = Field(ge=1, le=1000)


@router.post(
    "/dev/users/batch",
    tags=["development"],
    summary="Create up to 1,000 users at once",
    dependencies=[development_only],
)
async def create_dev_users(new: NewUsers, store: Store) -> dict[str, list[dict[str, str]]]:
    """Users ``<prefix>-0`` ... ``<prefix>-<count-1>`` and their tokens, for seeding load tests.
    Development only (``CHAT_DEV_ENDPOINTS``): off in production."""
    names = [f"{new.prefix}-{n}" for n in range(new.count)]
    created = await store.create_users(names)
    return {"users": [{"id": u.id, "name": u.name, "token": t} for u, t in created]}
