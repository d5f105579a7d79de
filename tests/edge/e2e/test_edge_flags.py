"""The edge's run-time flags on the native stack's three PoPs, flipped in the stack's flag file
while they run: ``fault.origin`` and ``edge.upperTierDown`` break what they name and flipping
back restores it within a flip; each design switch (``edge.tieredCache``, ``edge.coalescing``,
``edge.configPush``) changes the behaviour it names, measured through the public API, the
PoPs' ``/metrics`` and a scripted origin that counts what reaches it."""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from devstack.processes import free_port
from devstack.scripted_origin import Script, ScriptedOrigin, scripted_origin
from devstack.stack import REPO_FLAG_FILE, NativeStack
from devstack.topology import EDGE_POPS
from edge.settings import EdgeSettings
from stackkit.flag_catalog import SPECS_BY_KEY, render
from stackkit.flag_file import read_flag_file, set_flag, write_flag_file
from tests.edge.e2e.test_edge import applied_versions, pop_url, write_config
from tests.edge.e2e.test_resilience import chat_token
from tests.flags.running import within_a_flip
from tests.waiting import eventually

pytestmark = pytest.mark.e2e
POPS = tuple(label for label, _ in EDGE_POPS.values())
CONFIG_POLL_S: float = EdgeSettings.model_fields["config_poll_s"].default
CACHEABLE = [("Cache-Control", "max-age=60")]


class Routes:
    """A scripted origin at ``/<prefix>`` and a route whose only origin is a closed port."""

    def __init__(self, origin: ScriptedOrigin, prefix: str, dead_prefix: str) -> None:
        self.origin, self.prefix, self.dead_prefix = origin, prefix, dead_prefix

    def path(self, script: Script) -> tuple[str, str]:
        """A fresh origin path with ``script``: (path at the origin, path at the edge)."""
        path = f"/{uuid.uuid4().hex[:10]}"
        self.origin.scripts[path] = script
        return path, f"/{self.prefix}{path}"


@pytest.fixture(scope="module")
def routes(native_stack: NativeStack) -> Iterator[Routes]:
    prefix, dead = f"f-{uuid.uuid4().hex[:8]}", f"d-{uuid.uuid4().hex[:8]}"
    closed = f"http://127.0.0.1:{free_port()}"
    with scripted_origin() as scripted:
        write_config(native_stack, {"set": {
            f"route:{prefix}": {"origins": [scripted.url]},
            f"route:{dead}": {"origins": [closed]},
        }})  # fmt: skip
        yield Routes(scripted, prefix, dead)
        write_config(native_stack, {"delete": [f"route:{prefix}", f"route:{dead}"]})


Flip = Callable[[str, str], Awaitable[None]]


def shown(document: dict[str, Any], key: str, variant: str | None = None) -> str:
    """How a PoP's /_edge/status shows ``key`` at ``variant`` (default: the file's own)."""
    flag = document["flags"][key]
    return render(SPECS_BY_KEY[key].check(flag["variants"][variant or flag["defaultVariant"]]))


async def pop_flags(stack: NativeStack, pop: str) -> dict[str, str]:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(f"{pop_url(stack, pop)}/_edge/status")
    flags: dict[str, str] = response.json()["flags"]
    return flags


async def on_every_pop(stack: NativeStack, wanted: dict[str, str]) -> bool:
    for pop in POPS:
        in_force = await pop_flags(stack, pop)
        if any(in_force.get(key) != value for key, value in wanted.items()):
            return False
    return True


@pytest.fixture
async def flip(native_stack: NativeStack) -> AsyncIterator[Flip]:
    """``await flip(key, variant)``: set in the stack's flag file and in force on every PoP
    within the flip bound. Afterwards the file is restored, and seen restored by every PoP."""
    path = native_stack.flags_path
    flipped: set[str] = set()

    async def set_on_every_pop(key: str, variant: str) -> None:
        set_flag(path, key, variant)
        flipped.add(key)
        wanted = {key: shown(read_flag_file(path), key, variant)}
        await within_a_flip(
            lambda: on_every_pop(native_stack, wanted), f"{key}={variant} on every PoP"
        )

    try:
        yield set_on_every_pop
    finally:
        checkout = read_flag_file(REPO_FLAG_FILE)
        write_flag_file(path, checkout)
        wanted = {key: shown(checkout, key) for key in flipped}
        await eventually(
            lambda: on_every_pop(native_stack, wanted),
            timeout_s=10,
            what="every PoP back on the checkout's flags",
        )


async def metric(stack: NativeStack, pop: str, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples on ``pop``'s /metrics whose labels include ``labels``."""
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"{pop_url(stack, pop)}/metrics")).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


async def get(stack: NativeStack, pop: str, path: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(f"{pop_url(stack, pop)}{path}")


def cache_status(response: httpx.Response) -> str:
    return response.headers["cf-cache-status"]


# -- faults ----------------------------------------------------------------------------------


async def test_origin_down_answers_as_an_unreachable_origin_while_the_cache_still_serves(
    native_stack: NativeStack, routes: Routes, flip: Flip
) -> None:
    _, fresh = routes.path(Script(b"fresh", headers=CACHEABLE))
    _, kept = routes.path(
        Script(b"kept", headers=[("Cache-Control", "max-age=1, stale-if-error=60")])
    )
    _, dynamic = routes.path(Script(b"dynamic"))  # no freshness: fetched every time
    for path in (fresh, kept):
        assert cache_status(await get(native_stack, "pop-1", path)) == "MISS"
    assert (await get(native_stack, "pop-1", dynamic)).content == b"dynamic"
    # What a client gets when the origin is really unreachable, to compare with.
    dead = await get(native_stack, "pop-1", f"/{routes.dead_prefix}/anything")
    assert dead.status_code == 502, dead.text
    injected_before = await metric(native_stack, "pop-1", "faults_injected_total", site="origin")

    await flip("fault.origin", "down")

    async def unreachable() -> bool:
        return (await get(native_stack, "pop-1", dynamic)).status_code == 502

    await within_a_flip(unreachable, "a dynamic route's 502 with fault.origin=down")
    for pop in POPS:  # the lower tiers hear the upper tier's 502 or fail themselves alike
        for method in ("GET", "POST"):
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.request(method, f"{pop_url(native_stack, pop)}{dynamic}")
            assert response.status_code == dead.status_code, (pop, method, response.text)
            error, real = response.json()["error"], dead.json()["error"]
            assert (error["type"], error["code"]) == (real["type"], real["code"])
            assert error["code"] == "upstream_unreachable"
    hit = await get(native_stack, "pop-1", fresh)
    assert (hit.status_code, cache_status(hit), hit.content) == (200, "HIT", b"fresh")
    stale: list[httpx.Response] = []

    async def served_stale() -> bool:  # once its max-age=1 has run out
        stale.append(await get(native_stack, "pop-1", kept))
        return cache_status(stale[-1]) == "STALE"

    await eventually(served_stale, timeout_s=5, what="the stale copy served over the fault")
    assert (stale[-1].status_code, stale[-1].content) == (200, b"kept")
    assert (
        await metric(native_stack, "pop-1", "faults_injected_total", site="origin")
        > injected_before
    )

    await flip("fault.origin", "off")

    async def answering() -> bool:
        return (await get(native_stack, "pop-1", dynamic)).status_code == 200

    await within_a_flip(answering, "the dynamic route answering with fault.origin=off")
    for pop in POPS:
        assert (await get(native_stack, pop, dynamic)).content == b"dynamic"


async def test_origin_down_refuses_websocket_upgrades_as_unreachable_gateways(
    native_stack: NativeStack, flip: Flip
) -> None:
    token = await chat_token(native_stack, "origin-fault")
    url = f"{native_stack.edge_url.replace('http://', 'ws://')}/chat-gateway/ws?token={token}"
    async with connect(url, open_timeout=10) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "hello"

    await flip("fault.origin", "down")
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, open_timeout=10):
            pass
    assert refused.value.response.status_code == 502
    body = json.loads(refused.value.response.body or b"{}")
    assert body["error"]["code"] == "upstream_unreachable"

    await flip("fault.origin", "off")

    async def relayed() -> bool:
        try:
            async with connect(url, open_timeout=10) as ws:
                return bool(json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "hello")
        except InvalidStatus:
            return False

    await within_a_flip(relayed, "a WebSocket relayed again with fault.origin=off")


async def miss_goes_direct(stack: NativeStack, routes: Routes) -> bool:
    """A miss at the lower tier pop-2: True when it went to the origin itself (the upper tier
    pop-1 never saw it: its own GET then is a miss, the origin's second fetch), False when it
    went through the upper tier (whose GET is then a hit)."""
    path, at_edge = routes.path(Script(b"tiered", headers=CACHEABLE))
    assert cache_status(await get(stack, "pop-2", at_edge)) == "MISS"
    upper = cache_status(await get(stack, "pop-1", at_edge))
    assert upper in ("MISS", "HIT"), upper
    assert routes.origin.hits[path] == (2 if upper == "MISS" else 1)
    return upper == "MISS"


async def test_upper_tier_down_sends_lower_tier_misses_to_the_origin_until_flipped_back(
    native_stack: NativeStack, routes: Routes, flip: Flip
) -> None:
    assert not await miss_goes_direct(native_stack, routes)
    bypassed = await metric(native_stack, "pop-2", "edge_tier_bypasses_total")

    await flip("edge.upperTierDown", "on")

    async def direct() -> bool:
        return await miss_goes_direct(native_stack, routes)

    await within_a_flip(direct, "pop-2's misses going to the origin itself")
    for _ in range(4):  # past the breaker's threshold: it opens and skips the upper tier
        assert await miss_goes_direct(native_stack, routes)
    assert await metric(native_stack, "pop-2", "edge_upper_tier_open") == 1
    status = (await get(native_stack, "pop-2", "/_edge/status")).json()
    assert status["upper_tier_breaker"] != "closed"
    assert await metric(
        native_stack, "pop-2", "edge_tier_bypasses_total", reason="upper_tier_failed"
    )
    assert await metric(native_stack, "pop-2", "edge_tier_bypasses_total", reason="upper_tier_open")
    assert await metric(native_stack, "pop-2", "edge_tier_bypasses_total") >= bypassed + 5

    await flip("edge.upperTierDown", "off")

    async def through_the_upper_tier() -> bool:
        return not await miss_goes_direct(native_stack, routes)

    await within_a_flip(through_the_upper_tier, "pop-2's misses asking pop-1 again")
    assert await metric(native_stack, "pop-2", "edge_upper_tier_open") == 0


# -- design switches -------------------------------------------------------------------------


async def test_tiered_cache_off_sends_lower_tier_misses_to_the_origin(
    native_stack: NativeStack, routes: Routes, flip: Flip
) -> None:
    async def lower_tier_origin_fetches() -> float:
        return await metric(
            native_stack, "pop-2", "edge_upstream_fetches_total", target="origin", tier="lower"
        )

    before = await lower_tier_origin_fetches()
    assert not await miss_goes_direct(native_stack, routes)
    assert await lower_tier_origin_fetches() == before

    await flip("edge.tieredCache", "off")
    skipped = await metric(
        native_stack, "pop-2", "edge_tier_bypasses_total", reason="tiered_cache_off"
    )
    for _ in range(3):
        assert await miss_goes_direct(native_stack, routes)
    assert await lower_tier_origin_fetches() == before + 3
    after = await metric(
        native_stack, "pop-2", "edge_tier_bypasses_total", reason="tiered_cache_off"
    )
    assert after == skipped + 3
    assert await metric(native_stack, "pop-2", "edge_upper_tier_open") == 0  # skipped, not broken

    await flip("edge.tieredCache", "on")
    assert not await miss_goes_direct(native_stack, routes)


async def concurrent_misses(stack: NativeStack, routes: Routes, n: int) -> tuple[int, list[str]]:
    """``n`` concurrent GETs at the upper tier pop-1 for one uncached key whose origin takes
    2 s: the origin fetches they made, and their cache statuses."""
    path, at_edge = routes.path(Script(b"popular", delay_s=2.0, headers=CACHEABLE))
    url = f"{pop_url(stack, 'pop-1')}{at_edge}"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=n)) as session:

        async def one() -> tuple[int, bytes, str]:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=60)) as response:
                body = await response.read()
                return response.status, body, response.headers["cf-cache-status"]

        results = await asyncio.gather(*(one() for _ in range(n)))
    assert {(status, body) for status, body, _ in results} == {(200, b"popular")}
    return routes.origin.hits[path], sorted(cache for _, _, cache in results)


async def test_coalescing_off_makes_n_concurrent_misses_n_origin_fetches(
    native_stack: NativeStack, routes: Routes, flip: Flip
) -> None:
    n = 20
    coalesced = await metric(native_stack, "pop-1", "edge_coalesced_requests_total")
    fetches, statuses = await concurrent_misses(native_stack, routes, n)
    assert fetches == 1 and statuses == ["HIT"] * (n - 1) + ["MISS"]
    assert await metric(native_stack, "pop-1", "edge_coalesced_requests_total") == coalesced + n - 1

    await flip("edge.coalescing", "off")
    fetches, statuses = await concurrent_misses(native_stack, routes, n)
    assert fetches == n and statuses == ["MISS"] * n
    assert await metric(native_stack, "pop-1", "edge_coalesced_requests_total") == coalesced + n - 1

    await flip("edge.coalescing", "on")
    fetches, _ = await concurrent_misses(native_stack, routes, n)
    assert fetches == 1


async def applied_everywhere(
    stack: NativeStack, version: int, limit_s: float
) -> list[dict[str, Any]]:
    """Each PoP's record of applying ``version`` (written_at, applied_at, path), once every
    PoP has it; no longer than ``limit_s``."""
    await eventually(
        lambda: asyncio.to_thread(lambda: min(applied_versions(stack).values()) >= version),
        timeout_s=limit_s,
        what=f"config version {version} on every PoP",
    )
    records = []
    for pop in POPS:
        recent = (await get(stack, pop, "/_edge/config")).json()["recent"]
        records.append(next(r for r in recent if r["version"] == version))
    return records


def write_rule(stack: NativeStack, n: int) -> int:
    body = {"set": {"cache:rules": [{"path_prefix": f"/nothing-{n}/", "bypass": True}]}}
    response = httpx.put(f"{pop_url(stack, 'pop-2')}/_edge/config", json=body,
                         headers=stack.edge_admin_headers, timeout=10)  # fmt: skip
    assert response.status_code == 200, response.text
    version: int = response.json()["version"]
    return version


async def test_config_push_off_still_converges_every_pop_within_the_poll_interval(
    native_stack: NativeStack, flip: Flip
) -> None:
    pushed = await applied_everywhere(native_stack, write_rule(native_stack, 0), 5)
    push_lags = [r["applied_at"] - r["written_at"] for r in pushed]
    assert {r["path"] for r in pushed} == {"push"}
    assert max(push_lags) < 1.0, push_lags

    await flip("edge.configPush", "log_polling")
    poll_lags: list[float] = []
    for n in range(1, 3):
        started = time.monotonic()
        polled = await applied_everywhere(
            native_stack, write_rule(native_stack, n), CONFIG_POLL_S + 3
        )
        assert time.monotonic() - started < CONFIG_POLL_S + 1.5
        assert {r["path"] for r in polled} == {"poll"}, polled  # the push was dropped
        poll_lags += [r["applied_at"] - r["written_at"] for r in polled]
    assert max(poll_lags) < CONFIG_POLL_S + 1.0, poll_lags
    print(f"config apply lag: push max {max(push_lags):.3f} s {push_lags};"
          f" poll max {max(poll_lags):.3f} s {poll_lags}")  # fmt: skip

    await flip("edge.configPush", "kafka_push")
    pushed = await applied_everywhere(native_stack, write_rule(native_stack, 3), 5)
    assert {r["path"] for r in pushed} == {"push"}
    write_config(native_stack, {"delete": ["cache:rules"]})
