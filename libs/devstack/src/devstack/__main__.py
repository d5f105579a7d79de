"""``python -m devstack run``: the whole stack natively, until Ctrl-C."""

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

from devstack.processes import StartupError
from devstack.servers import LocalServers
from devstack.stack import REPO_FLAG_FILE, start_native_stack, taken_default_ports
from devstack.topology import EDGE_ROUTED, PROCESSES

SECOND_STACK_HINT = """\
Another stack (or another program) holds the default ports (edge 8080, services 8001-8014,
PoPs 8081-8083, acquirers 8101-8102). To run a second stack beside it, on free ports that it
prints when ready:

    make run ARGS=--free-ports          (or: uv run python -m devstack run --free-ports)
"""


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    taken = [] if args.free_ports else taken_default_ports()
    if taken:
        listed = ", ".join(f"{name} {port}" for name, port in taken)
        print(f"cannot start on the default ports: taken: {listed}", file=sys.stderr)
        print(SECOND_STACK_HINT, file=sys.stderr)
        return 1
    root = Path(args.data_dir).resolve() if args.data_dir else None
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
    servers = LocalServers.create(root)
    print("starting local servers (postgres, redis, kafka, cql) ...", flush=True)
    servers.start()
    try:
        print("starting services ...", flush=True)
        stack = start_native_stack(
            servers, default_ports=not args.free_ports, flag_file=REPO_FLAG_FILE
        )
    except StartupError as exc:
        servers.stop(keep_logs=True)
        print(f"start-up failed: {exc}", file=sys.stderr)
        if "already in use" in str(exc) and not args.free_ports:
            print(SECOND_STACK_HINT, file=sys.stderr)
        print(f"logs kept in {servers.root / 'logs'}", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    print(
        f"\nReal-World Architectures is ready in {elapsed:.1f}s (every /readyz 200 via the edge)\n"
    )
    print(f"  edge (one port reaches everything)  {stack.edge_url}")
    print(f"    config plane token (this run only)  EDGE_ADMIN_TOKEN={stack.edge_admin_token}")
    for route in EDGE_ROUTED:
        print(f"    {route:<10} {stack.edge_url}/{route}/docs")
    print("\n  processes (direct)")
    for spec in PROCESSES:
        print(f"    {spec.name:<14} {stack.url(spec.name)}")
    print("\n  servers")
    print(f"    postgres       {servers.postgres.admin_url}")
    print(f"    redis          {servers.redis.url}  (and {servers.redis_b.url}, cache zone b)")
    print(f"    kafka          {servers.kafka.bootstrap_servers}")
    print(f"    cql            {servers.cql.contact_point}  (development server, not Cassandra)")
    print("\n  run-time flags (faults and design switches; polled, no restart)")
    print(f"    {REPO_FLAG_FILE}")
    print("    uv run python -m stackkit.flag_file show | set KEY VARIANT")
    print(f"\n  logs in {stack.logs_dir()}\n\nCtrl-C stops everything.", flush=True)

    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    reported: set[str] = set()
    while not stopping.wait(1.0):
        # A dead process is reported, not fatal: killing things and watching is the point.
        for name, proc in stack.processes.items():
            if not proc.alive and name not in reported:
                reported.add(name)
                print(f"{name} exited; its log: {proc.log_path}", file=sys.stderr)
    print("stopping ...", flush=True)
    stack.stop()
    servers.stop(keep_logs=True)
    print(f"stopped. logs kept in {stack.logs_dir()}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="start the whole stack natively until Ctrl-C")
    run_parser.add_argument(
        "--free-ports",
        action="store_true",
        help="listen on free ports (printed when ready), not 8080...: a second stack beside one",
    )
    run_parser.add_argument(
        "--data-dir",
        help="keep server data and logs here (default: a temp dir whose logs/ outlive the run)",
    )
    args = parser.parse_args()
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
