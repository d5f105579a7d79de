"""The edge when things die: an instance of a service (dispatch, a chat gateway), the upper
tier; and when clients hold much (relayed WebSockets) or little (half a request head). Real
processes of the native stack, plus PoPs started here with their own settings."""

import asyncio
import contextlib
import json
import math
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from devstack.processes import LocalProcess, free_port
from devstack.stack import NativeStack
from devstack.topology import process

pytestmark = pytest.mark.e2e
HEADER_TIMEOUT_S = 1.0


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def extra_pop(stack: NativeStack, overrides: dict[str, str]) -> Iterator[tuple[str, LocalProcess]]:
    """One more PoP process beside the stack's three (same command and environment as
    ``edge-pop-2``, a lower tier of ``edge-pop-1``), with ``overrides``; its URL and process."""
    spec = process("edge-pop-2")
    name = f"pop-x{uuid.uuid4().hex[:6]}"
    port = free_port()
    command = spec.command(stack.host, port)
    pop = LocalProcess(
        name=name,
        argv=[sys.executable, "-m", *command],
        log_path=stack.logs_dir() / f"{name}.log",
        env=stack.env_for(spec)
        | {
            "EDGE_POP_NAME": name,
            "EDGE_REPLICA_DIR": str(stack.servers.root / "edge-replicas" / name),
        }
        | overrides,
    )
    url = f"http://{stack.host}:{port}"
    pop.start()
    try:
        pop.wait_ready(lambda: _ready(url), timeout_s=90)
        yield url, pop
    finally:
        pop.stop()


def restart(stack: NativeStack, name: str) -> None:
    stack.processes[name].stop()
    stack.start([name])


# -- item 3: every instance behind a route ---------------------------------------------------


def test_dispatch_answers_through_the_edge_while_one_worker_is_dead(
    native_stack: NativeStack,
) -> None:
    """Before, the edge knew only ``dispatch``: SIGKILL it and every /dispatch request was a
    502 though ``dispatch-2`` was healthy."""
    entries = [native_stack.edge_url, native_stack.url("edge-pop-2")]  # upper and lower tier
    nearby = "/dispatch/v1/drivers/nearby?lat=52.52&lng=13.40"
    for entry in entries:
        assert httpx.get(f"{entry}{nearby}", timeout=10).status_code == 200
    native_stack.kill("dispatch")
    try:
        statuses: list[int] = []
        posts: list[int] = []
        with httpx.Client(timeout=10) as client:
            for n in range(20):
                for entry in entries:
                    statuses.append(client.get(f"{entry}{nearby}").status_code)
                    statuses.append(client.get(f"{entry}/dispatch/readyz").status_code)
                    location = {"lat": 52.52, "lng": 13.40 + n / 1000}
                    posts.append(
                        client.post(
                            f"{entry}/dispatch/v1/drivers/edge-{n}/location", json=location
                        ).status_code
                    )
        assert set(statuses) == {200}, statuses
        # A POST is not repeated once it may have reached the dead worker (a pooled
        # connection it had): at most the first ones per PoP fail, every later one succeeds.
        assert posts[4:] == [200] * (len(posts) - 4), posts
    finally:
        restart(native_stack, "dispatch")


async def test_new_websockets_through_the_edge_reach_the_live_gateway(
    native_stack: NativeStack,
) -> None:
    token = await chat_token(native_stack, "failover")
    url = f"{native_stack.edge_url.replace('http://', 'ws://')}/chat-gateway/ws?token={token}"
    native_stack.kill("chat-gateway")
    try:
        for _ in range(6):  # round robin would send every second one to the dead gateway
            async with connect(url, open_timeout=10) as ws:
                hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert hello["type"] == "hello"
    finally:
        restart(native_stack, "chat-gateway")


# -- item 7: relays have their own budget ----------------------------------------------------


async def chat_token(stack: NativeStack, name: str) -> str:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{stack.url('chat')}/dev/users", json={"name": f"{name}-{uuid.uuid4().hex[:6]}"}
        )
    response.raise_for_status()
    token: str = response.json()["token"]
    return token


async def test_relayed_websockets_do_not_starve_the_request_path(
    native_stack: NativeStack,
) -> None:
    """More relayed sockets than the PoP's HTTP pool holds; a proxied GET still answers, and
    past the relay budget an upgrade is a 503 in the stack's error shape. Before, relays drew
    on the request pool and the GET waited for a connection that never came free."""
    pool, budget = 4, 8
    token = await chat_token(native_stack, "relays")
    overrides = {"EDGE_MAX_CONNECTIONS": str(pool), "EDGE_MAX_RELAYED_SOCKETS": str(budget)}
    with extra_pop(native_stack, overrides) as (pop, _):
        url = f"{pop.replace('http://', 'ws://')}/chat-gateway/ws?token={token}"
        sockets: list[ClientConnection] = []
        try:
            for _ in range(budget):
                sockets.append(await connect(url, open_timeout=10))
                await asyncio.wait_for(sockets[-1].recv(), 10)  # hello: relayed for real
            async with httpx.AsyncClient(timeout=5) as client:
                for path in ("/catalog/readyz", "/dispatch/readyz", "/chat/readyz"):
                    assert (await client.get(f"{pop}{path}")).status_code == 200
            with pytest.raises(InvalidStatus) as refused:
                async with connect(url, open_timeout=10):
                    pass
            response = refused.value.response
            assert response.status_code == 503
            assert json.loads(response.body or b"{}")["error"]["code"] == "relay_capacity"
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


# -- item 8: a dead upper tier is not asked on every miss ------------------------------------


def test_a_dead_upper_tier_is_skipped_with_bounded_warnings(native_stack: NativeStack) -> None:
    with (
        extra_pop(native_stack, {"EDGE_UPPER_TIER_URL": ""}) as (upper_url, upper),
        extra_pop(native_stack, {"EDGE_UPPER_TIER_URL": upper_url}) as (lower_url, lower),
        httpx.Client(timeout=10) as client,
    ):
        assert client.get(f"{lower_url}/catalog/readyz").status_code == 200
        upper.kill()
        started = time.monotonic()
        statuses = [client.get(f"{lower_url}/catalog/readyz").status_code for _ in range(200)]
        elapsed = time.monotonic() - started
        warnings = lower.log_path.read_text().count("upper_tier_unreachable")
    assert set(statuses) == {200}
    # One when the breaker opens, one per failed probe after a doubling backoff (1 s, 2 s,
    # 4 s ...): a handful at most, not one per GET as before.
    assert warnings <= 2 + math.ceil(elapsed).bit_length(), (warnings, elapsed)


# -- item 13: every request head has a deadline ----------------------------------------------


def _one_response(sock: socket.socket) -> bytes:
    """One whole response with a content-length (its head and body may come in two reads)."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a whole head: {received!r}"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))  # fmt: skip
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a whole body: {received + body!r}"
        body += chunk
    return head + b"\r\n\r\n" + body


def _closed_within(sock: socket.socket, timeout_s: float) -> tuple[bool, bytes]:
    """Reads until the server closes; (closed in time, what it sent)."""
    sock.settimeout(timeout_s)
    received = b""
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                return True, received
            received += chunk
    except TimeoutError:
        pass
    return False, received


@contextmanager
def anycast_in_front(stack: NativeStack, pop_url: str) -> Iterator[tuple[str, int]]:
    """An anycast entry whose only PoP is ``pop_url``; its (host, port)."""
    spec = process("edge")
    port = free_port()
    pops = f"pop-x@eu-west={pop_url.removeprefix('http://')}"
    entry = LocalProcess(
        name=f"anycast-{port}",
        argv=[sys.executable, *spec.command(stack.host, port)[1:]],
        log_path=stack.logs_dir() / f"anycast-{port}.log",
        env=stack.env_for(spec) | {"ANYCAST_POPS": pops},
    )
    entry.start()
    try:

        def ready() -> bool:
            try:
                url = f"http://{stack.host}:{port}/_anycast/status"
                return httpx.get(url, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        entry.wait_ready(ready, timeout_s=30)
        yield stack.host, port
    finally:
        entry.stop()


def _address(url: str) -> tuple[str, int]:
    host, _, port = url.removeprefix("http://").partition(":")
    return host, int(port)


@pytest.mark.parametrize("via", ["pop", "anycast"])
def test_a_half_sent_second_request_head_is_timed_out(native_stack: NativeStack, via: str) -> None:
    """After one full request, half of a second head: the connection gets a 408 and is
    closed within the header timeout, also through the anycast entry (which splices a
    connection to the PoP after its first head). Before, uvicorn's keep-alive timer stopped
    at the first byte of the next head and nothing else timed it: the connection stayed."""
    with contextlib.ExitStack() as stack:
        pop_url, _ = stack.enter_context(
            extra_pop(native_stack, {"HTTP_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S)})
        )
        address = (
            stack.enter_context(anycast_in_front(native_stack, pop_url))
            if via == "anycast"
            else _address(pop_url)
        )
        with socket.create_connection(address, timeout=10) as sock:
            sock.sendall(b"GET /catalog/readyz HTTP/1.1\r\nhost: edge\r\n\r\n")
            first = _one_response(sock)
            assert first.startswith(b"HTTP/1.1 200"), first
            started = time.monotonic()
            sock.sendall(b"GET /catalog/readyz HTTP/1.1\r\nhost: ed")
            closed, rest = _closed_within(sock, HEADER_TIMEOUT_S + 5)
            elapsed = time.monotonic() - started
    assert closed, "the connection with half a head stayed open"
    assert elapsed >= HEADER_TIMEOUT_S * 0.9
    assert rest.startswith(b"HTTP/1.1 408"), rest
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["error"]["code"] == "request_timeout"


def test_a_connection_that_sends_nothing_is_closed(native_stack: NativeStack) -> None:
    timeout = {"HTTP_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S)}
    with (
        extra_pop(native_stack, timeout) as (url, _),
        socket.create_connection(_address(url), timeout=10) as sock,
    ):
        closed, rest = _closed_within(sock, HEADER_TIMEOUT_S + 5)
    assert closed and rest == b""
