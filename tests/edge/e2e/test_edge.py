"""The edge over the native stack: three PoPs, the anycast stand-in, an origin scripted by the
test (registered as a route through the config plane), and the chat gateways behind it."""

import asyncio
import json
import shutil
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import httpx
import pytest
from slack_sdk import WebClient
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from devstack.processes import wait_until
from devstack.scripted_origin import Script, ScriptedOrigin, scripted_origin
from devstack.stack import NativeStack
from devstack.topology import EDGE_POPS

pytestmark = pytest.mark.e2e
PROPAGATION_LIMIT_S = 5.0
Origin = tuple[ScriptedOrigin, str]


def pop_url(stack: NativeStack, pop: str) -> str:
    """``pop-1`` -> its process's URL."""
    return next(stack.url(name) for name, (label, _) in EDGE_POPS.items() if label == pop)


def applied_versions(stack: NativeStack) -> dict[str, int]:
    return {
        label: httpx.get(f"{stack.url(name)}/_edge/config", timeout=5).json()["version"]
        for name, (label, _) in EDGE_POPS.items()
        if stack.processes[name].alive
    }


def write_config(stack: NativeStack, body: dict[str, Any], path: str = "/_edge/config") -> int:
    """Write through one PoP; return once every running PoP has applied the change."""
    method = "PUT" if path == "/_edge/config" else "POST"
    response = httpx.request(method, f"{pop_url(stack, 'pop-2')}{path}", json=body,
                             headers=stack.edge_admin_headers, timeout=10)  # fmt: skip
    assert response.status_code == 200, response.text
    version: int = response.json()["version"]
    wait_until(lambda: min(applied_versions(stack).values()) >= version,
               timeout_s=PROPAGATION_LIMIT_S, what=f"config version {version} on every PoP")  # fmt: skip
    return version


@pytest.fixture(scope="module")
def origin(native_stack: NativeStack) -> Iterator[tuple[ScriptedOrigin, str]]:
    """A scripted origin at ``/<prefix>`` on every PoP."""
    prefix = f"t-{uuid.uuid4().hex[:8]}"
    with scripted_origin() as scripted:
        write_config(native_stack, {"set": {f"route:{prefix}": {"origins": [scripted.url]}}})
        yield scripted, prefix
        write_config(native_stack, {"delete": [f"route:{prefix}"]})


def path_for(origin: tuple[ScriptedOrigin, str], script: Script) -> tuple[str, str]:
    """A fresh origin path with this script; returns (origin path, path at the edge)."""
    scripted, prefix = origin
    path = f"/{uuid.uuid4().hex[:10]}"
    scripted.scripts[path] = script
    return path, f"/{prefix}{path}"


def get(stack: NativeStack, pop: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(f"{pop_url(stack, pop)}{path}", timeout=10, **kwargs)


def status(response: httpx.Response) -> str:
    return response.headers["cf-cache-status"]


def first_with_status(stack: NativeStack, path: str, wanted: str) -> httpx.Response:
    """GET from pop-1 until the cache status is ``wanted`` (an entry expiring takes a while)."""
    seen: list[httpx.Response] = []

    def arrived() -> bool:
        seen.append(get(stack, "pop-1", path))
        return status(seen[-1]) == wanted

    wait_until(arrived, timeout_s=5, what=f"a {wanted} answer", interval_s=0.2)
    return seen[-1]


# -- caching ---------------------------------------------------------------------------------


def test_miss_then_hit_with_age_and_one_origin_fetch(
    native_stack: NativeStack, origin: Origin
) -> None:
    path, at_edge = path_for(origin, Script(b"v1", headers=[("Cache-Control", "max-age=60")]))
    first, second = get(native_stack, "pop-1", at_edge), get(native_stack, "pop-1", at_edge)
    assert (status(first), status(second)) == ("MISS", "HIT")
    assert first.content == second.content == b"v1"
    assert int(second.headers["age"]) >= 0
    assert second.headers["x-edge-pop"] == "pop-1"
    assert second.headers["cf-ray"].endswith("-pop-1")
    assert origin[0].hits[path] == 1
    assert origin[0].seen_headers[path]["x-forwarded-prefix"] == f"/{origin[1]}"


def test_only_the_upper_tier_goes_to_the_origin(native_stack: NativeStack, origin: Origin) -> None:
    path, at_edge = path_for(origin, Script(b"tiered", headers=[("Cache-Control", "max-age=60")]))
    statuses = [status(get(native_stack, pop, at_edge)) for pop in ("pop-2", "pop-3", "pop-1")]
    assert statuses == ["MISS", "MISS", "HIT"]  # pop-3's miss was pop-1's hit
    assert origin[0].hits[path] == 1
    again = [status(get(native_stack, pop, at_edge)) for pop in ("pop-2", "pop-3")]
    assert again == ["HIT", "HIT"]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([("Cache-Control", "no-store")], "BYPASS"),
        ([("Cache-Control", "private, max-age=60")], "BYPASS"),
        ([("Cache-Control", "max-age=60"), ("Set-Cookie", "session=1")], "BYPASS"),
        ([], "DYNAMIC"),
    ],
)
def test_what_must_not_be_cached_is_fetched_every_time(
    native_stack: NativeStack,
    origin: Origin,
    headers: list[tuple[str, str]],
    expected: str,
) -> None:
    path, at_edge = path_for(origin, Script(b"fresh", headers=headers))
    assert [status(get(native_stack, "pop-2", at_edge)) for _ in range(2)] == [expected] * 2
    assert origin[0].hits[path] == 2


def test_posts_pass_through(native_stack: NativeStack, origin: Origin) -> None:
    path, at_edge = path_for(origin, Script(b"posted", headers=[("Cache-Control", "max-age=60")]))
    for _ in range(2):
        response = httpx.post(f"{pop_url(native_stack, 'pop-1')}{at_edge}", content=b"x")
        assert (response.status_code, status(response)) == (200, "DYNAMIC")
    assert origin[0].hits[path] == 2


def test_a_write_invalidates_the_url_in_both_tiers(
    native_stack: NativeStack, origin: Origin
) -> None:
    cache_control = [("Cache-Control", "max-age=60")]
    path, at_edge = path_for(origin, Script(b"v1", headers=cache_control))
    assert get(native_stack, "pop-2", at_edge).content == b"v1"
    assert status(get(native_stack, "pop-2", at_edge)) == "HIT"
    origin[0].scripts[path] = Script(b"v2", headers=cache_control)
    assert httpx.post(f"{pop_url(native_stack, 'pop-2')}{at_edge}", content=b"x").status_code == 200
    refreshed = get(native_stack, "pop-2", at_edge)
    assert (status(refreshed), refreshed.content) == ("MISS", b"v2")
    assert get(native_stack, "pop-1", at_edge).content == b"v2"  # the upper tier refreshed too


def test_revalidation_with_an_etag(native_stack: NativeStack, origin: Origin) -> None:
    path, at_edge = path_for(
        origin, Script(b"validated", etag='"v1"', headers=[("Cache-Control", "max-age=0")])
    )
    first, second = get(native_stack, "pop-1", at_edge), get(native_stack, "pop-1", at_edge)
    assert (status(first), status(second)) == ("MISS", "REVALIDATED")
    assert second.content == b"validated"
    assert origin[0].conditional_hits[path] == 1
    assert origin[0].seen_headers[path]["if-none-match"] == '"v1"'


def test_a_clients_conditional_get_is_answered_from_the_cache(
    native_stack: NativeStack, origin: Origin
) -> None:
    path, at_edge = path_for(
        origin, Script(b"body", etag='"e7"', headers=[("Cache-Control", "max-age=60")])
    )
    assert get(native_stack, "pop-1", at_edge).status_code == 200
    cached = get(native_stack, "pop-1", at_edge, headers={"If-None-Match": '"e7"'})
    assert (cached.status_code, status(cached), cached.content) == (304, "HIT", b"")
    assert cached.headers["etag"] == '"e7"'
    assert origin[0].hits[path] == 1


def test_an_expired_response_is_fetched_again(native_stack: NativeStack, origin: Origin) -> None:
    path, at_edge = path_for(origin, Script(b"short", headers=[("Cache-Control", "max-age=1")]))
    assert status(get(native_stack, "pop-1", at_edge)) == "MISS"
    first_with_status(native_stack, at_edge, "EXPIRED")
    assert origin[0].hits[path] == 2


def test_stale_while_revalidate_serves_at_once_and_refreshes_behind(
    native_stack: NativeStack, origin: Origin
) -> None:
    cache_control = [("Cache-Control", "max-age=1, stale-while-revalidate=60")]
    path, at_edge = path_for(origin, Script(b"old", headers=cache_control))
    assert status(get(native_stack, "pop-1", at_edge)) == "MISS"
    origin[0].scripts[path] = Script(b"new", headers=cache_control)
    updating = first_with_status(native_stack, at_edge, "UPDATING")
    assert updating.content == b"old"  # served stale, at once
    wait_until(lambda: get(native_stack, "pop-1", at_edge).content == b"new", timeout_s=5,
               what="the background refresh")  # fmt: skip
    assert origin[0].hits[path] == 2


@pytest.mark.parametrize("failure", ["status", "reset"])
def test_stale_if_error_covers_a_failing_origin(
    native_stack: NativeStack, origin: Origin, failure: str
) -> None:
    cache_control = [("Cache-Control", "max-age=1, stale-if-error=60")]
    path, at_edge = path_for(origin, Script(b"kept", headers=cache_control))
    assert status(get(native_stack, "pop-1", at_edge)) == "MISS"
    origin[0].scripts[path] = (
        Script(b"broken", status=503) if failure == "status" else Script(reset=True)
    )
    stale = first_with_status(native_stack, at_edge, "STALE")
    assert (stale.status_code, stale.content) == (200, b"kept")


def test_without_stale_if_error_the_failure_shows(
    native_stack: NativeStack, origin: Origin
) -> None:
    path, at_edge = path_for(origin, Script(b"x", headers=[("Cache-Control", "max-age=1")]))
    assert status(get(native_stack, "pop-1", at_edge)) == "MISS"
    origin[0].scripts[path] = Script(reset=True)
    wait_until(lambda: get(native_stack, "pop-1", at_edge).status_code == 502, timeout_s=5,
               what="a 502 once the entry expired")  # fmt: skip


def test_vary_keeps_variants_apart(native_stack: NativeStack, origin: Origin) -> None:
    headers = [("Cache-Control", "max-age=60"), ("Vary", "Accept-Language")]
    path, at_edge = path_for(origin, Script(b"hello", headers=headers, vary_on="Accept-Language"))

    def fetch(language: str) -> tuple[str, bytes]:
        response = get(native_stack, "pop-1", at_edge, headers={"Accept-Language": language})
        return status(response), response.content

    assert fetch("en") == ("MISS", b"hello:en")
    assert fetch("fr") == ("MISS", b"hello:fr")
    assert fetch("en") == ("HIT", b"hello:en")
    assert fetch("fr") == ("HIT", b"hello:fr")
    assert origin[0].hits[path] == 2


@pytest.mark.parametrize("pop", ["pop-1", "pop-2"])
async def test_a_thousand_concurrent_misses_make_one_origin_fetch(
    native_stack: NativeStack, origin: Origin, pop: str
) -> None:
    path, at_edge = path_for(
        origin, Script(b"popular", delay_s=1.0, headers=[("Cache-Control", "max-age=60")])
    )
    url = f"{pop_url(native_stack, pop)}{at_edge}"
    connector = aiohttp.TCPConnector(limit=1000)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> tuple[int, bytes]:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=60)) as response:
                return response.status, await response.read()

        results = await asyncio.gather(*(one() for _ in range(1000)))
    assert set(results) == {(200, b"popular")}
    assert origin[0].hits[path] == 1


def test_purge_reaches_every_pop(native_stack: NativeStack, origin: Origin) -> None:
    path, at_edge = path_for(origin, Script(b"purge me", headers=[("Cache-Control", "max-age=60")]))
    pops = ("pop-1", "pop-2", "pop-3")
    for pop in pops:
        get(native_stack, pop, at_edge)
    assert [status(get(native_stack, pop, at_edge)) for pop in pops] == ["HIT"] * 3
    write_config(native_stack, {"urls": [at_edge]}, path="/_edge/purge")
    # pop-1 (the upper tier) refills first, so the lower tiers' misses are its hits.
    assert [status(get(native_stack, pop, at_edge)) for pop in pops] == ["MISS"] * 3
    assert origin[0].hits[path] == 2


# -- the config plane ------------------------------------------------------------------------


def test_config_changes_reach_every_pop_within_a_second(native_stack: NativeStack) -> None:
    delays = []
    for n in range(5):
        version = write_config(native_stack, {"set": {"cache:rules": [
            {"path_prefix": f"/nothing-{n}/", "bypass": True}]}})  # fmt: skip
        for name in EDGE_POPS:
            recent = httpx.get(f"{native_stack.url(name)}/_edge/config").json()["recent"]
            change = next(r for r in recent if r["version"] == version)
            delays.append(change["applied_at"] - change["written_at"])
    assert max(delays) < 1.0, delays
    write_config(native_stack, {"delete": ["cache:rules"]})


def test_writes_are_validated_and_need_the_admin_token(native_stack: NativeStack) -> None:
    url = f"{pop_url(native_stack, 'pop-1')}/_edge/config"
    good: dict[str, Any] = {"set": {"cache:rules": []}}
    assert httpx.put(url, json=good).status_code == 401
    bad = [
        {"set": {"route:_edge": {"origins": ["http://x"]}}},
        {"set": {"route:x": {"origins": []}}},
        {"set": {"waf:policy": {"custom": [{"id": "1", "pattern": "("}]}}},
        {"set": {"ratelimit:rules": [{"id": "x", "path_prefix": "/", "limit": 0,
                                      "period_s": 1}]}},
        {"set": {"nonsense": 1}},
        {},
    ]  # fmt: skip
    for body in bad:
        response = httpx.put(url, json=body, headers=native_stack.edge_admin_headers)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"]["type"] == "invalid_request_error"


# -- protection ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "rule"),
    [
        ("q=1%27%20OR%20%271%27=%271", "942100"),
        ("q=%3Cscript%3Ealert(1)%3C/script%3E", "941100"),
        ("f=..%2F..%2Fetc%2Fpasswd", "930100"),
    ],
)
def test_the_waf_blocks_with_403_and_the_rule(
    native_stack: NativeStack, query: str, rule: str
) -> None:
    response = httpx.get(f"{native_stack.edge_url}/catalog/v1/titles/t1?{query}")
    assert response.status_code == 403
    assert response.headers["x-edge-waf-rule"] == rule
    assert response.json()["error"]["code"] == "waf_blocked"
    assert rule in response.json()["error"]["message"]


def test_bad_methods_and_huge_headers_are_blocked(native_stack: NativeStack) -> None:
    url = f"{pop_url(native_stack, 'pop-1')}/catalog/v1/titles/t1"
    assert httpx.request("TRACE", url).headers.get("x-edge-waf-rule") == "911100"
    huge = httpx.get(url, headers={"X-Padding": "a" * 9000})
    assert (huge.status_code, huge.headers.get("x-edge-waf-rule")) == (403, "920380")


def test_a_waf_rule_can_be_switched_off_through_the_config_plane(native_stack: NativeStack) -> None:
    url = f"{pop_url(native_stack, 'pop-3')}/catalog/v1/titles/t1?q=%3Cscript%3E"
    assert httpx.get(url).status_code == 403
    write_config(native_stack, {"set": {"waf:policy": {"disabled": ["941100"]}}})
    try:
        assert httpx.get(url).status_code == 200
    finally:
        write_config(native_stack, {"delete": ["waf:policy"]})
    assert httpx.get(url).status_code == 403


def test_rate_limits_answer_429_with_retry_after(native_stack: NativeStack, origin: Origin) -> None:
    _, at_edge = path_for(origin, Script(b"ok"))
    rule = {"id": "test-limit", "path_prefix": at_edge, "limit": 3, "period_s": 60,
            "key_header": "x-api-key"}  # fmt: skip
    write_config(native_stack, {"set": {"ratelimit:rules": [rule]}})
    try:
        first_key = [get(native_stack, "pop-1", at_edge, headers={"x-api-key": "a"})
                     for _ in range(4)]  # fmt: skip
        assert [r.status_code for r in first_key] == [200, 200, 200, 429]
        refused = first_key[-1]
        assert 1 <= int(refused.headers["retry-after"]) <= 120
        assert refused.json()["error"]["code"] == "rate_limited"
        assert refused.headers["x-edge-ratelimit-rule"] == "test-limit"
        assert get(native_stack, "pop-1", at_edge, headers={"x-api-key": "b"}).status_code == 200
    finally:
        write_config(native_stack, {"delete": ["ratelimit:rules"]})


# -- bad input -------------------------------------------------------------------------------


def raw_exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(request)
        chunks = []
        try:
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /catalog/v1/plays HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n",
        b"POST /catalog/v1/plays HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
        b"Content-Length: 40\r\n\r\nabcd",
        b"GARBAGE\r\n\r\n",
        b"GET /catalog/v1/titles/t1 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
    ],
    ids=["cl-and-te", "two-lengths", "garbage", "huge-head"],
)
def test_malformed_requests_get_4xx_or_a_close(
    native_stack: NativeStack, request_bytes: bytes
) -> None:
    port = native_stack.ports["edge-pop-1"]
    answer = raw_exchange(port, request_bytes)
    assert answer == b"" or answer.startswith((b"HTTP/1.1 4", b"HTTP/1.0 4")), answer[:200]
    assert b"HTTP/1.1 2" not in answer
    assert get(native_stack, "pop-1", "/catalog/readyz").status_code == 200


def test_slow_clients_do_not_hold_up_others(native_stack: NativeStack) -> None:
    port = native_stack.ports["edge-pop-1"]
    slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]
    try:
        for conn in slow:
            conn.sendall(b"GET /catalog/readyz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        for _ in range(20):
            assert get(native_stack, "pop-1", "/catalog/readyz").status_code == 200
    finally:
        for conn in slow:
            conn.close()


# -- WebSocket pass-through ------------------------------------------------------------------


async def new_chat_user(edge: str, name: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{edge}/chat/dev/users",
                                     json={"name": f"{name}-{uuid.uuid4().hex[:6]}"})  # fmt: skip
    response.raise_for_status()
    user: dict[str, Any] = response.json()
    return user


async def test_chat_over_websocket_through_the_edge(native_stack: NativeStack) -> None:
    edge = native_stack.edge_url
    users = [await new_chat_user(edge, f"w{n}") for n in range(2)]
    ada, bob = (WebClient(token=u["token"], base_url=f"{edge}/chat/api/") for u in users)
    channel = ada.conversations_create(name=f"edge-{uuid.uuid4().hex[:8]}")["channel"]["id"]
    bob.conversations_join(channel=channel)
    ws_url = f"{edge.replace('http://', 'ws://')}/chat-gateway/ws?token={users[1]['token']}"
    async with connect(ws_url) as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert hello["type"] == "hello"
        assert ws.response is not None and ws.response.headers["x-edge-pop"] == "pop-1"
        ada.chat_postMessage(channel=channel, text="through the edge")

        async def next_message() -> dict[str, Any]:
            while True:
                event: dict[str, Any] = json.loads(await ws.recv())
                if event["type"] == "message":
                    return event

        message = await asyncio.wait_for(next_message(), 10)
        assert (message["text"], message["channel"]) == ("through the edge", channel)
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url.replace(users[1]["token"], "xoxp-forged")):
            pass
    assert refused.value.response.status_code == 401


async def test_an_oversized_frame_closes_with_1009_through_the_edge(
    native_stack: NativeStack,
) -> None:
    token = (await new_chat_user(native_stack.edge_url, "big"))["token"]
    url = f"{native_stack.edge_url.replace('http://', 'ws://')}/chat-gateway/ws?token={token}"
    async with connect(url, max_size=None) as ws:
        await ws.recv()  # hello
        await ws.send("x" * 100_000)
        await asyncio.wait_for(ws.wait_closed(), 10)
    assert ws.close_code == 1009


# -- PoP failure, restart, cold start --------------------------------------------------------


def test_clients_move_off_a_dead_pop_and_it_catches_up_on_return(
    native_stack: NativeStack, origin: Origin
) -> None:
    entry = native_stack.edge_url
    _, at_edge = path_for(origin, Script(b"still here", headers=[("Cache-Control", "max-age=60")]))
    hint = {"x-client-region": "eu-central"}
    assert httpx.get(f"{entry}{at_edge}", headers=hint).headers["x-edge-pop"] == "pop-1"
    native_stack.kill("edge-pop-1")
    try:
        # The next nearest PoP answers; pop-2 is a lower tier whose upper tier is gone: it goes
        # to the origin itself.
        wait_until(lambda: httpx.get(f"{entry}{at_edge}", headers=hint).headers.get(
            "x-edge-pop") == "pop-2", timeout_s=5, what="pop-2 taking over")  # fmt: skip
        served = httpx.get(f"{entry}{at_edge}", headers=hint)
        assert (served.status_code, served.content) == (200, b"still here")
        version = write_config(native_stack, {"set": {"cache:rules": []}})  # while pop-1 is away
    finally:
        native_stack.start(["edge-pop-1"])
    assert applied_versions(native_stack)["pop-1"] >= version
    wait_until(lambda: httpx.get(f"{entry}{at_edge}", headers=hint).headers.get("x-edge-pop")
               == "pop-1", timeout_s=5, what="pop-1 announced again")  # fmt: skip
    write_config(native_stack, {"delete": ["cache:rules"]})


def test_a_pop_with_an_empty_replica_loads_a_snapshot(native_stack: NativeStack) -> None:
    version = write_config(native_stack, {"set": {"waf:policy": {"threshold": 7}}})
    native_stack.processes["edge-pop-3"].stop()
    try:
        shutil.rmtree(native_stack.servers.root / "edge-replicas" / "pop-3")
    finally:
        native_stack.start(["edge-pop-3"])
    status = httpx.get(f"{pop_url(native_stack, 'pop-3')}/_edge/status").json()
    assert status["started_cold"] is True
    assert status["config_version"] >= version
    config = httpx.get(f"{pop_url(native_stack, 'pop-3')}/_edge/config").json()
    assert config["entries"]["waf:policy"]["threshold"] == 7
    write_config(native_stack, {"delete": ["waf:policy"]})


def test_the_anycast_entry_reports_its_pops(native_stack: NativeStack) -> None:
    status = httpx.get(f"{native_stack.edge_url}/_anycast/status").json()
    assert {pop["name"] for pop in status["pops"] if pop["healthy"]} == {"pop-1", "pop-2", "pop-3"}
