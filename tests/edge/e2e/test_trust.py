"""What a client cannot claim at the edge, over the native stack with real clients (curl, raw
sockets, websockets, httpx): tier trust, internal headers, the admin token, and the path it
sent (forwarded exactly as received, one cache key per path)."""

import asyncio
import socket
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import InvalidStatus

from devstack.scripted_origin import Script, ScriptedOrigin, scripted_origin
from devstack.stack import NativeStack
from tests.edge.e2e.test_edge import pop_url, write_config

pytestmark = pytest.mark.e2e
Origin = tuple[ScriptedOrigin, str]
ATTACK = "?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E"


@pytest.fixture(scope="module")
def origin(native_stack: NativeStack) -> Iterator[Origin]:
    prefix = f"t-{uuid.uuid4().hex[:8]}"
    with scripted_origin() as scripted:
        write_config(native_stack, {"set": {f"route:{prefix}": {"origins": [scripted.url]}}})
        yield scripted, prefix
        write_config(native_stack, {"delete": [f"route:{prefix}"]})


def scripted(origin: Origin, script: Script, path: str | None = None) -> tuple[str, str]:
    """(origin path, path at the edge) for a fresh path with this script."""
    path = path or f"/{uuid.uuid4().hex[:10]}"
    origin[0].scripts[path] = script
    return path, f"/{origin[1]}{path}"


def tier_claims(stack: NativeStack) -> list[tuple[str, str]]:
    """Every way a client might claim to be a tier: the old default secret, the stack's real
    secret (a leak must not be enough either), and a made-up signature."""
    real = getattr(stack, "edge_tier_secret", "dev-tier-secret")
    return [
        ("x-edge-tier-secret", "dev-tier-secret"),
        ("x-edge-tier-secret", real),
        ("x-edge-tier-auth", "v1:pop-2:1800000000:" + "0" * 64),
    ]


def curl(url: str, headers: list[tuple[str, str]], method: str = "GET") -> int:
    argv = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", method, "--max-time", "20"]
    for name, value in headers:
        argv += ["-H", f"{name}: {value}"]
    return int(subprocess.run([*argv, url], capture_output=True, check=True, text=True).stdout)


@pytest.mark.parametrize("where", ["anycast", "pop-1", "pop-2"])
def test_a_client_claiming_to_be_a_tier_is_still_waf_blocked(
    native_stack: NativeStack, origin: Origin, where: str
) -> None:
    _, at_edge = scripted(origin, Script(b"ok"))
    base = native_stack.edge_url if where == "anycast" else pop_url(native_stack, where)
    assert curl(f"{base}{at_edge}", []) == 200
    assert curl(f"{base}{at_edge}{ATTACK}", []) == 403
    for claim in tier_claims(native_stack):
        assert curl(f"{base}{at_edge}{ATTACK}", [claim]) == 403, claim


@pytest.mark.parametrize("where", ["anycast", "pop-1"])
def test_a_client_claiming_to_be_a_tier_is_still_rate_limited(
    native_stack: NativeStack, origin: Origin, where: str
) -> None:
    _, at_edge = scripted(origin, Script(b"ok"))
    base = native_stack.edge_url if where == "anycast" else pop_url(native_stack, where)
    rule = {"id": "tier-claim", "path_prefix": at_edge, "limit": 2, "period_s": 60,
            "key_header": "x-test-client"}  # fmt: skip
    write_config(native_stack, {"set": {"ratelimit:rules": [rule]}})
    try:
        for claim in tier_claims(native_stack):
            me = ("x-test-client", uuid.uuid4().hex)
            codes = [curl(f"{base}{at_edge}", [me, claim]) for _ in range(3)]
            assert codes == [200, 200, 429], claim
    finally:
        write_config(native_stack, {"delete": ["ratelimit:rules"]})


def test_signed_tiers_still_skip_the_upper_tiers_limits(
    native_stack: NativeStack, origin: Origin
) -> None:
    """The lower tiers' fetches are signed: the upper tier does not count them as a client's."""
    _, at_edge = scripted(origin, Script(b"dynamic"))  # not cacheable: each GET goes upstream
    rule = {"id": "tier-skip", "path_prefix": at_edge, "limit": 1, "period_s": 60,
            "key_header": "x-test-client"}  # fmt: skip
    write_config(native_stack, {"set": {"ratelimit:rules": [rule]}})
    try:
        me = {"x-test-client": uuid.uuid4().hex}
        for pop in ("pop-2", "pop-3"):  # each counts one here; pop-1 would count two
            response = httpx.get(f"{pop_url(native_stack, pop)}{at_edge}", headers=me, timeout=20)
            assert (response.status_code, response.content) == (200, b"dynamic"), pop
    finally:
        write_config(native_stack, {"delete": ["ratelimit:rules"]})


def test_internal_headers_never_reach_the_origin(native_stack: NativeStack, origin: Origin) -> None:
    path, at_edge = scripted(origin, Script(b"posted"))
    port = int(native_stack.edge_url.rsplit(":", 1)[1])
    request = (
        f"POST {at_edge} HTTP/1.1\r\nhost: edge\r\ncontent-length: 2\r\nconnection: close\r\n"
        "x-edge-tier-secret: dev-tier-secret\r\nx-dispatch-forwarded: dispatch-2\r\n"
        "x-forwarded-prefix: /evil\r\nx-forwarded-for: 6.6.6.6\r\nx-forwarded-host: evil\r\n"
        "x-edge-anything: 1\r\ncf-connecting-ip: 6.6.6.6\r\nx-kept: yes\r\n\r\nhi"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer
    seen = origin[0].seen_headers[path]
    assert seen["x-kept"] == "yes"
    assert seen["x-forwarded-prefix"] == f"/{origin[1]}"
    assert seen["x-forwarded-for"] == "127.0.0.1"
    leaked = [name for name in seen if name.startswith(("x-edge-", "x-dispatch-", "cf-"))]
    assert leaked == [] and "x-forwarded-host" not in seen, seen


def test_the_old_default_admin_token_is_refused(native_stack: NativeStack) -> None:
    body: dict[str, Any] = {"set": {"cache:rules": []}}
    old = {"authorization": "Bearer dev-edge-admin-token"}
    for base in (native_stack.edge_url, pop_url(native_stack, "pop-1")):
        refused = httpx.put(f"{base}/_edge/config", json=body, headers=old, timeout=10)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["type"] == "authentication_error"
    assert native_stack.edge_admin_token != "dev-edge-admin-token"
    write_config(native_stack, body)  # the run's own token works


# -- WebSocket upgrades --------------------------------------------------------------------


def ws_base(stack: NativeStack) -> str:
    return stack.edge_url.replace("http://", "ws://")


async def upgrade_status(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        async with connect(url, additional_headers=headers, open_timeout=20):
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


async def test_an_attack_in_the_upgrade_url_is_waf_blocked(native_stack: NativeStack) -> None:
    status = await upgrade_status(f"{ws_base(native_stack)}/chat-gateway/ws{ATTACK}")
    assert status == 403


async def test_upgrades_beyond_the_rate_limit_are_429(native_stack: NativeStack) -> None:
    rule = {"id": "ws-upgrades", "path_prefix": "/chat-gateway", "limit": 2, "period_s": 60,
            "key_header": "x-test-client"}  # fmt: skip
    write_config(native_stack, {"set": {"ratelimit:rules": [rule]}})
    try:
        me = {"x-test-client": uuid.uuid4().hex}
        url = f"{ws_base(native_stack)}/chat-gateway/ws?token=xoxp-none"
        statuses = [await upgrade_status(url, me) for _ in range(3)]
        assert statuses[:2] != [429, 429] and statuses[2] == 429, statuses
        assert await upgrade_status(url, {"x-test-client": "another"}) != 429
    finally:
        write_config(native_stack, {"delete": ["ratelimit:rules"]})


async def test_an_upgrade_reaches_the_origin_with_the_path_as_received(
    native_stack: NativeStack,
) -> None:
    seen: list[str] = []
    headers: list[str] = []

    async def origin(connection: ServerConnection) -> None:
        assert connection.request is not None
        seen.append(connection.request.path)
        headers.extend(name.lower() for name in connection.request.headers)
        await connection.send("hi")

    prefix = f"w-{uuid.uuid4().hex[:8]}"
    async with serve(origin, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        route = {"origins": [f"http://127.0.0.1:{port}"], "websocket": True}
        await asyncio.to_thread(write_config, native_stack, {"set": {f"route:{prefix}": route}})
        try:
            claims = {"x-edge-tier-secret": "dev-tier-secret", "x-dispatch-forwarded": "d",
                      "x-forwarded-prefix": "/evil", "x-kept": "yes"}  # fmt: skip
            url = f"{ws_base(native_stack)}/{prefix}/a%23b%3Fc?d=%41"
            async with connect(url, additional_headers=claims) as ws:
                assert await ws.recv() == "hi"
        finally:
            await asyncio.to_thread(write_config, native_stack, {"delete": [f"route:{prefix}"]})
    assert seen == ["/a%23b%3Fc?d=%41"]
    assert "x-kept" in headers
    assert not {"x-edge-tier-secret", "x-dispatch-forwarded", "x-forwarded-prefix"} & set(headers)


# -- the path as received ------------------------------------------------------------------


def test_the_origin_gets_the_path_exactly_as_received(
    native_stack: NativeStack, origin: Origin
) -> None:
    stem = uuid.uuid4().hex[:10]
    cached = [("Cache-Control", "max-age=60")]
    plain, at_plain = scripted(origin, Script(b"plain", headers=cached))
    # What a decoded `#` or `?` would cut the path to.
    origin[0].scripts[f"/{stem}"] = Script(b"cut", headers=cached)
    for encoded in (f"/{stem}%23b", f"/{stem}%3Fb=1", f"/{stem}%2Fb", f"/{stem}%41"):
        _, at_edge = scripted(origin, Script(encoded.encode(), headers=cached), encoded)
        for pop in ("pop-2", "pop-1"):
            response = httpx.get(f"{pop_url(native_stack, pop)}{at_edge}", timeout=20)
            assert (response.status_code, response.content) == (200, encoded.encode()), pop
        assert origin[0].hits[encoded] == 1  # one key per path: the second PoP hit the first
    assert origin[0].hits[f"/{stem}"] == 0
    assert httpx.get(f"{pop_url(native_stack, 'pop-2')}{at_plain}", timeout=20).content == b"plain"
    assert origin[0].hits[plain] == 1


def test_a_title_with_an_encoded_hash_is_its_own_title(native_stack: NativeStack) -> None:
    base = f"{pop_url(native_stack, 'pop-2')}/catalog/v1/titles"
    stem = f"t{uuid.uuid4().hex[:10]}"
    title = {"genres": ["drama"], "year": 2001, "duration_s": 3600}
    put = httpx.put(f"{base}/{stem}", json={"name": "plain", **title}, timeout=20)
    assert put.status_code == 200, put.text
    for encoded, decoded in ((f"{stem}%23b", f"{stem}#b"), (f"{stem}%3Fb", f"{stem}?b")):
        put = httpx.put(f"{base}/{encoded}", json={"name": encoded, **title}, timeout=20)
        assert (put.status_code, put.json()["title_id"]) == (200, decoded), put.text
        got = httpx.get(f"{base}/{encoded}", timeout=20)
        assert (got.json()["title_id"], got.json()["name"]) == (decoded, encoded)
    untouched = httpx.get(f"{base}/{stem}", timeout=20).json()
    assert (untouched["title_id"], untouched["name"]) == (stem, "plain")
