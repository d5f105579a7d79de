"""Benchmark the CQL development server through the real driver (not a test).

Prepared single-partition writes and reads per second, each beside a baseline measured in the
same run: a prepared read of the one-row ``system.local`` table, i.e. the driver and protocol
round trip with the least engine work. Writes a Markdown table and JSON into
``loadtests/results/``.

    uv run python -m loadtests.cql_bench [--operations 20000] [--concurrency 32]
"""

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from cassandra.cluster import Cluster, Session
from cassandra.concurrent import execute_concurrent_with_args

from devstack.servers import CqlServer
from loadtests.measure import p50, p99
from loadtests.report import write_report


def throughput(
    session: Session, statement: Any, args: list[tuple[Any, ...]], concurrency: int
) -> float:
    started = time.perf_counter()
    results = execute_concurrent_with_args(session, statement, args, concurrency=concurrency)
    elapsed = time.perf_counter() - started
    assert all(ok for ok, _ in results), "an operation failed"
    return len(args) / elapsed


def latency_ms(session: Session, statement: Any, args: list[tuple[Any, ...]]) -> dict[str, float]:
    samples = []
    for values in args:
        started = time.perf_counter()
        session.execute(statement, values)
        samples.append((time.perf_counter() - started) * 1000)
    return {"p50": p50(samples), "p99": p99(samples)}


def run(operations: int, concurrency: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as root:
        server = CqlServer(Path(root) / "cql")
        server.start()
        cluster = Cluster(["127.0.0.1"], port=server.port, protocol_version=4)
        try:
            session = cluster.connect()
            session.execute(
                "CREATE KEYSPACE bench WITH replication = "
                "{'class': 'SimpleStrategy', 'replication_factor': 1}"
            )
            session.execute(
                "CREATE TABLE bench.history (profile text, seq int, title text, "
                "PRIMARY KEY (profile, seq))"
            )
            write = session.prepare(
                "INSERT INTO bench.history (profile, seq, title) VALUES (?, ?, ?)"
            )
            read = session.prepare("SELECT title FROM bench.history WHERE profile = ? AND seq = ?")
            floor = session.prepare("SELECT release_version FROM system.local WHERE key = ?")
            write_args = [(f"p{n % 1000}", n, f"title {n}") for n in range(operations)]
            read_args = [(f"p{n % 1000}", n) for n in range(operations)]
            floor_args = [("local",)] * operations
            baseline = throughput(session, floor, floor_args, concurrency)
            writes = throughput(session, write, write_args, concurrency)
            reads = throughput(session, read, read_args, concurrency)
            baseline_again = throughput(session, floor, floor_args, concurrency)
            baseline = (baseline + baseline_again) / 2
            lat_floor = latency_ms(session, floor, floor_args[:2000])
            lat_read = latency_ms(session, read, read_args[:2000])
        finally:
            cluster.shutdown()
            server.stop()
    return [
        {"metric": "prepared writes/s", "value": writes, "baseline": baseline},
        {"metric": "prepared reads/s", "value": reads, "baseline": baseline},
        {
            "metric": "read p50 ms (sequential)",
            "value": lat_read["p50"],
            "baseline": lat_floor["p50"],
        },
        {
            "metric": "read p99 ms (sequential)",
            "value": lat_read["p99"],
            "baseline": lat_floor["p99"],
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--operations", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    rows = run(args.operations, args.concurrency)
    title = f"CQL development server, {args.operations} ops at concurrency {args.concurrency}"
    print(write_report("cql", title, "system.local read", rows))


if __name__ == "__main__":
    main()
