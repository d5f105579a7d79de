"""A cached GET's latency on a PoP holding many relayed WebSockets, beside the same PoP holding
none: the relays have their own budget and must not slow (or, as before, stall) the request path.

One PoP (with Postgres and Kafka for its config plane) in front of an origin run here: a 1 KiB
cacheable object and a WebSocket endpoint that greets each socket and then holds it.

    uv run --frozen python -m loadtests.edge_relay_bench --sockets 2000
"""

import argparse
import asyncio
import resource
import statistics
import time
from typing import Any

import aiohttp
import httpx
from aiohttp import web

from devstack.processes import free_port
from devstack.servers import LocalServers
from devstack.stack import NativeStack

POP = "edge-pop-1"


async def origin(port: int) -> web.AppRunner:
    async def obj(_: web.Request) -> web.Response:
        return web.Response(body=b"x" * 1024, headers={"Cache-Control": "public, max-age=3600"})

    async def ready(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def ws(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(heartbeat=None)
        await socket.prepare(request)
        await socket.send_str('{"type":"hello"}')
        async for _ in socket:  # held until the client goes
            pass
        return socket

    app = web.Application()
    app.add_routes([web.get("/object", obj), web.get("/readyz", ready), web.get("/ws", ws)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
    return runner


async def latencies_ms(url: str, requests: int, concurrency: int) -> list[float]:
    times: list[float] = []
    async with aiohttp.ClientSession() as session:

        async def worker(count: int) -> None:
            for _ in range(count):
                started = time.perf_counter()
                async with session.get(url) as response:
                    await response.read()
                    assert response.status == 200, response.status
                    assert response.headers.get("cf-cache-status") == "HIT"
                times.append((time.perf_counter() - started) * 1000)

        await asyncio.gather(*(worker(requests // concurrency) for _ in range(concurrency)))
    return times


def summary(name: str, times: list[float]) -> dict[str, Any]:
    cuts = statistics.quantiles(times, n=100)
    return {"case": name, "requests": len(times), "p50_ms": round(cuts[49], 2),
            "p99_ms": round(cuts[98], 2), "max_ms": round(max(times), 2)}  # fmt: skip


async def hold_sockets(
    session: aiohttp.ClientSession, url: str, count: int
) -> list[aiohttp.ClientWebSocketResponse]:
    held: list[aiohttp.ClientWebSocketResponse] = []
    for start in range(0, count, 100):  # in batches: the point is holding them, not a storm
        batch = await asyncio.gather(
            *(session.ws_connect(url, heartbeat=None) for _ in range(min(100, count - start)))
        )
        for socket in batch:
            await socket.receive_str()  # relayed end to end
        held += batch
    return held


async def run(stack: NativeStack, sockets: int, requests: int, concurrency: int) -> None:
    pop = stack.url(POP)
    url = f"{pop}/catalog/object"
    async with httpx.AsyncClient() as client:
        (await client.get(url)).raise_for_status()  # now cached
    times = await latencies_ms(url, requests, concurrency)
    rows = [summary("cached GET, no relayed sockets", times)]
    ws_url = f"{pop.replace('http://', 'ws://')}/chat-gateway/ws"
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        held = await hold_sockets(session, ws_url, sockets)
        print(f"{len(held)} sockets relayed in {time.perf_counter() - started:.1f} s", flush=True)
        times = await latencies_ms(url, requests, concurrency)
        rows.append(summary(f"cached GET, {len(held)} relayed sockets held", times))
        await asyncio.gather(*(socket.close() for socket in held))
    for row in rows:
        print(row)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # This process holds a client and an origin socket per relay; the PoP holds two more.
    resource.setrlimit(
        resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.sockets + 1024)), hard)
    )
    origin_port = free_port()
    loop = asyncio.new_event_loop()
    runner = loop.run_until_complete(origin(origin_port))
    try:
        with LocalServers.create() as servers:
            stack = NativeStack.create(servers)
            here = f"http://127.0.0.1:{origin_port}"
            stack.overrides = {POP: {"EDGE_CATALOG_URLS": here, "EDGE_CHAT_GATEWAY_URLS": here}}
            # The origin runs on this loop: the PoP's readiness wait must not block it.
            loop.run_until_complete(asyncio.to_thread(stack.start, [POP]))
            try:
                loop.run_until_complete(run(stack, args.sockets, args.requests, args.concurrency))
            finally:
                stack.stop()
    finally:
        loop.run_until_complete(runner.cleanup())
        loop.close()


if __name__ == "__main__":
    main()
