"""The edge beside nginx: cache hits and misses per PoP, the anycast entry, config propagation,
and the upstream client the PoPs use (aiohttp) beside httpx.

Everything runs natively in one run on this machine: the three PoPs and the anycast entry (with
Postgres and Kafka for the config plane), Debian's nginx as the origin (a static 1 KiB object)
and as the baseline (``proxy_cache`` in front of the same origin), and ``wrk`` as the load
generator (one thread, so the server under test keeps the other core).

    make bench-edge          # needs nginx and wrk: `make bench-tools` installs them (Debian)
"""

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from devstack.processes import free_port, wait_until
from devstack.servers import LocalServers
from devstack.stack import NativeStack
from devstack.topology import EDGE_POPS
from loadtests.measure import latency_rows
from loadtests.report import write_report

OBJECT = "x" * 1024
NGINX_CONF = """
worker_processes 1;
{user}
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {root}/body;
  proxy_temp_path {root}/proxy;
  fastcgi_temp_path {root}/fastcgi;
  uwsgi_temp_path {root}/uwsgi;
  scgi_temp_path {root}/scgi;
  default_type application/octet-stream;
  proxy_cache_path {root}/cache levels=1:2 keys_zone=edge:10m max_size=256m inactive=60m
                   use_temp_path=off;
  upstream origin {{ server 127.0.0.1:{origin_port}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{origin_port};
    location = /object {{ add_header Cache-Control "public, max-age=3600"; return 200 "{body}"; }}
    location = /dynamic {{ add_header Cache-Control "no-store"; return 200 "{body}"; }}
  }}
  server {{
    listen 127.0.0.1:{cache_port};
    location / {{
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache edge;
      proxy_cache_lock on;
      add_header X-Cache-Status $upstream_cache_status;
    }}
  }}
}}
"""


def require(tool: str) -> str:
    found = shutil.which(tool, path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    if not found:
        raise SystemExit(f"{tool} is missing: `make bench-tools` installs nginx and wrk (Debian)")
    return found


@contextmanager
def nginx() -> Iterator[tuple[str, str]]:
    """(origin URL, proxy_cache URL)."""
    binary = require("nginx")
    root = Path(tempfile.mkdtemp(prefix="rwa-nginx-"))
    origin_port, cache_port = free_port(), free_port()
    conf = root / "nginx.conf"
    user = "user root;" if os.geteuid() == 0 else ""
    conf.write_text(NGINX_CONF.format(root=root, origin_port=origin_port, cache_port=cache_port,
                                      body=OBJECT, user=user))  # fmt: skip
    process = subprocess.Popen([binary, "-p", str(root), "-c", str(conf), "-g", "daemon off;"],
                               stderr=subprocess.PIPE)  # fmt: skip
    origin, cache = f"http://127.0.0.1:{origin_port}", f"http://127.0.0.1:{cache_port}"
    try:
        wait_until(lambda: _ok(f"{origin}/object"), timeout_s=10, what="nginx")
        yield origin, cache
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(root, ignore_errors=True)


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, seconds: int, connections: int) -> tuple[float, float]:
    """requests/s, p99 ms."""
    out = subprocess.run(
        [require("wrk"), "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def percentile(name: str) -> float:
        value, unit = re.search(rf"\s{name}%\s+([\d.]+)(us|ms|s)\b", out).groups()  # type: ignore[union-attr]
        return float(value) * _UNITS[unit]

    if re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        raise RuntimeError(f"errors under load at {url}:\n{out}")
    return rate, percentile("99")


def beside(
    kind: str, where: str, measured: tuple[float, float], baseline: tuple[float, float]
) -> list[dict[str, Any]]:
    """Rows for wrk's requests/s and p99 of one target, beside the baseline's."""
    (rate, p99_ms), (base_rate, base_p99) = measured, baseline
    return [
        {"metric": f"{kind} requests/s, {where}", "value": rate, "baseline": base_rate},
        {"metric": f"{kind} p99 ms, {where}", "value": p99_ms, "baseline": base_p99},
    ]


def configure(stack: NativeStack, body: dict[str, Any]) -> dict[str, Any]:
    url = f"{stack.url('edge-pop-1')}/_edge/config"
    response = httpx.put(url, json=body, headers=stack.edge_admin_headers)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def applied(stack: NativeStack, version: int) -> list[dict[str, Any]]:
    """Every PoP's record of applying ``version``, once all have it."""
    found: list[dict[str, Any]] = []

    def everywhere() -> bool:
        found.clear()
        for name in EDGE_POPS:
            recent = httpx.get(f"{stack.url(name)}/_edge/config").json()["recent"]
            found.extend(r for r in recent if r["version"] == version)
        return len(found) == len(EDGE_POPS)

    wait_until(everywhere, timeout_s=10, what=f"config version {version} on every PoP")
    return found


def propagation_ms(stack: NativeStack, changes: int) -> list[float]:
    delays = []
    for n in range(changes):
        version = configure(stack, {"set": {"cache:rules": [
            {"path_prefix": f"/bench-{n}/", "bypass": True}]}})["version"]  # fmt: skip
        delays += [(r["applied_at"] - r["written_at"]) * 1000 for r in applied(stack, version)]
    return delays


async def client_rate(kind: str, url: str, requests: int, concurrency: int) -> float:
    """Requests/s one Python process gets from an upstream through the client's pool."""
    done = 0

    async def worker(get: Any) -> None:
        nonlocal done
        while done < requests:
            done += 1
            await get()

    started = time.perf_counter()
    if kind == "aiohttp":
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def get_aiohttp() -> None:
                async with session.get(url) as response:
                    await response.read()

            await asyncio.gather(*(worker(get_aiohttp) for _ in range(concurrency)))
    else:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits) as client:

            async def get_httpx() -> None:
                (await client.get(url)).read()

            await asyncio.gather(*(worker(get_httpx) for _ in range(concurrency)))
    return requests / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8, help="wrk run length per target")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--changes", type=int, default=50, help="config changes timed")
    parser.add_argument("--client-requests", type=int, default=5000)
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with nginx() as (origin, nginx_cache), LocalServers.create() as servers:
        stack = NativeStack.create(servers)
        stack.start([*EDGE_POPS, "edge"])
        try:
            version = configure(stack, {"set": {"route:bench": {"origins": [origin]}}})["version"]
            applied(stack, version)
            pops = {label: stack.url(name) for name, (label, _) in EDGE_POPS.items()}
            for warm in [*(f"{u}/bench/object" for u in (*pops.values(), stack.edge_url)),
                         f"{nginx_cache}/object"]:  # fmt: skip
                httpx.get(warm).raise_for_status()
            print("cache hits: nginx proxy_cache ...", flush=True)
            nginx_hits = wrk(f"{nginx_cache}/object", args.seconds, args.connections)
            for label, url in pops.items():
                print(f"cache hits: {label} ...", flush=True)
                hits = wrk(f"{url}/bench/object", args.seconds, args.connections)
                rows += beside("cache-hit", f"{label} (1 process)", hits, nginx_hits)
            print("cache hits through the anycast entry ...", flush=True)
            hits = wrk(f"{stack.edge_url}/bench/object", args.seconds, args.connections)
            rows += beside("cache-hit", "through the anycast entry", hits, nginx_hits)
            print("misses (no-store, every request to the origin) ...", flush=True)
            nginx_misses = wrk(f"{nginx_cache}/dynamic", args.seconds, args.connections)
            misses = wrk(f"{pops['pop-1']}/bench/dynamic", args.seconds, args.connections)
            rows += beside("miss-path", "pop-1 -> origin", misses, nginx_misses)
            print(f"config propagation over {args.changes} changes ...", flush=True)
            delays = propagation_ms(stack, args.changes)
            rows += latency_rows("config propagation", ", log -> every PoP", delays, 1000.0)
        finally:
            stack.stop()
        print("upstream clients: aiohttp beside httpx ...", flush=True)
        aio = asyncio.run(client_rate("aiohttp", f"{origin}/object", args.client_requests, 32))
        hx = asyncio.run(client_rate("httpx", f"{origin}/object", args.client_requests, 32))
        rows.append({"metric": "upstream client requests/s: httpx AsyncClient (aiohttp = "
                     "baseline)", "value": hx, "baseline": aio})  # fmt: skip
    title = (
        f"edge: wrk -t1 -c{args.connections} -d{args.seconds}s on a 1 KiB object; "
        f"{args.changes} config changes; {args.client_requests:,} client GETs"
    )
    baselines = "nginx proxy_cache / 1 s target / aiohttp"
    print(write_report("edge", title, baselines, rows))


if __name__ == "__main__":
    main()
