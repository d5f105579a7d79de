"""Benchmark payments natively (not a test): confirmed payments/s and latency through the real
service (idempotency keys, serializable Postgres, two acquirer processes), beside Postgres's own
``pgbench`` TPS on the same server in the same run as the baseline.

    uv run python -m loadtests.payments_bench [--payments 600] [--concurrency 16]
"""

import argparse
import asyncio
import re
import subprocess
import time
import uuid

import httpx

from devstack.binaries import postgres_bin_dir
from devstack.servers import LocalServers
from devstack.stack import NativeStack
from loadtests.measure import p50, p99
from loadtests.report import record_samples, write_report

PROCESSES = ["acquirer-a", "acquirer-b", "payments", "payments-worker"]


async def confirm_payments(base_url: str, secret: str, count: int, concurrency: int) -> list[float]:
    latencies: list[float] = []
    semaphore = asyncio.Semaphore(concurrency)
    headers = {"authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as http:

        async def one() -> None:
            async with semaphore:
                started = time.perf_counter()
                response = await http.post(
                    "/v1/payment_intents",
                    data={"amount": "1999", "currency": "usd", "payment_method": "pm_card_visa",
                          "confirm": "true"},
                    headers={"idempotency-key": str(uuid.uuid4())},
                )  # fmt: skip
                latencies.append(time.perf_counter() - started)
                assert response.status_code == 200 and response.json()["status"] == "succeeded", (
                    response.text
                )

        await asyncio.gather(*(one() for _ in range(count)))
    return latencies


def pgbench_tps(servers: LocalServers, clients: int, seconds: int) -> float:
    pgbench = str(postgres_bin_dir() / "pgbench")
    servers.postgres.create_databases(["pgbench"])
    target = ["-h", "127.0.0.1", "-p", str(servers.postgres.port), "-U", "postgres", "pgbench"]
    subprocess.run([pgbench, "-i", "-q", "-s", "4", *target], check=True, capture_output=True)
    result = subprocess.run(
        [pgbench, "-c", str(clients), "-j", "2", "-T", str(seconds), *target],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    match = re.search(r"tps = ([\d.]+)", result.stdout)
    assert match, result.stdout
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payments", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--pgbench-seconds", type=int, default=10)
    args = parser.parse_args()
    with LocalServers.create() as servers:
        stack = NativeStack.create(servers)
        print("starting payments, its worker and two acquirers ...", flush=True)
        stack.start(PROCESSES)
        try:
            base_url = stack.url("payments")
            merchant = httpx.post(
                f"{base_url}/dev/merchants", json={"name": "bench"}, timeout=10
            ).json()
            secret = merchant["secret_key"]
            asyncio.run(confirm_payments(base_url, secret, 50, args.concurrency))  # warm-up
            print(
                f"confirming {args.payments} payments at concurrency {args.concurrency} ...",
                flush=True,
            )
            started = time.perf_counter()
            latencies = asyncio.run(
                confirm_payments(base_url, secret, args.payments, args.concurrency)
            )
            throughput = args.payments / (time.perf_counter() - started)
        finally:
            stack.stop()
        print(
            f"pgbench (TPC-B-like) for {args.pgbench_seconds}s at {args.concurrency} clients ...",
            flush=True,
        )
        tps = pgbench_tps(servers, args.concurrency, args.pgbench_seconds)
    p50_ms, p99_ms = p50(latencies) * 1000, p99(latencies) * 1000
    record_samples("payments", "create + confirm, HTTP", [s * 1000 for s in latencies])
    rows = [
        {"metric": "confirmed payments/s", "value": throughput, "baseline": tps},
        {"metric": "confirm p50 ms", "value": p50_ms, "baseline": 1000 * args.concurrency / tps},
        {"metric": "confirm p99 ms", "value": p99_ms, "baseline": 1000 * args.concurrency / tps},
    ]
    title = f"payments, {args.payments} create+confirm at concurrency {args.concurrency}"
    print(write_report("payments", title, "pgbench TPS / its mean latency", rows))


if __name__ == "__main__":
    main()
