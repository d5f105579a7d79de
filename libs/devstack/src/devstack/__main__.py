"""``python -m devstack run``: the whole stack natively, supervised, until Ctrl-C;
``python -m devstack ctl``: its control API (status, kill, pause, resume, restart, stop, start).
"""

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

from devstack import observing
from devstack.control import DEFAULT_PORT, ControlClient, ControlError, control_url, serve_control
from devstack.processes import StartupError, port_open
from devstack.servers import LocalServers
from devstack.stack import REPO_FLAG_FILE, start_native_stack, taken_default_ports
from devstack.supervision import ACTIONS, render_table
from devstack.topology import EDGE_ROUTED, PROCESSES

SECOND_STACK_HINT = """\
Another stack (or another program) holds the default ports (edge 8080, services 8001-8014,
PoPs 8081-8083, acquirers 8101-8102, control API 8099). To run a second stack beside it, on
free ports that it prints when ready:

    make run ARGS=--free-ports          (or: uv run python -m devstack run --free-ports)
"""


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    taken = [] if args.free_ports else taken_default_ports()
    if not args.free_ports and port_open(DEFAULT_PORT):
        taken.append(("control API", DEFAULT_PORT))
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
            servers, default_ports=not args.free_ports, flag_file=REPO_FLAG_FILE, supervise=True
        )
    except StartupError as exc:
        servers.stop(keep_logs=True)
        print(f"start-up failed: {exc}", file=sys.stderr)
        if "already in use" in str(exc) and not args.free_ports:
            print(SECOND_STACK_HINT, file=sys.stderr)
        print(f"logs kept in {servers.root / 'logs'}", file=sys.stderr)
        return 1
    assert stack.supervisor is not None
    prometheus = observing.start_for_run(stack, default_port=not args.free_ports)
    control = serve_control(
        stack.supervisor, port=0 if args.free_ports else DEFAULT_PORT, state_dir=servers.root
    )
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
    if isinstance(prometheus, observing.PrometheusServer):
        print(f"    prometheus     {prometheus.url}  (every process scraped, alerts: /alerts)")
    else:
        print(f"    {prometheus}")
    print("\n  run-time flags (faults and design switches; polled, no restart)")
    print(f"    {REPO_FLAG_FILE}")
    print("    uv run python -m stackkit.flag_file show | set KEY VARIANT")
    ctl = "uv run python -m devstack ctl"
    if args.free_ports:
        ctl += f" --url {control.url}"
    print("\n  supervision (a process or server that exits is started again, with backoff)")
    print(f"    control API    {control.url}/processes  (and /metrics)")
    print(f"    {ctl} status | kill | pause | resume | restart | stop | start NAME")
    print("    kafka, cql, redis, redis-b keep their data in memory: a restart empties them")
    print(f"\n  logs in {stack.logs_dir()}\n\nCtrl-C stops everything.", flush=True)

    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    stopping.wait()
    print("stopping ...", flush=True)
    control.close()
    stack.unsupervise()
    if isinstance(prometheus, observing.PrometheusServer):
        prometheus.stop()
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
    ctl_parser = commands.add_parser(
        "ctl", help="the running stack's processes: status, kill, pause, resume, restart ..."
    )
    ctl_parser.add_argument(
        "--url", help=f"the control API (default http://127.0.0.1:{DEFAULT_PORT})"
    )
    ctl_parser.add_argument("--data-dir", help="find the control API in a run's --data-dir")
    ctl_parser.add_argument("action", choices=["status", "metrics", *ACTIONS])
    ctl_parser.add_argument("name", nargs="?", help="a process or server (`status` lists them)")
    args = parser.parse_args()
    if args.command == "ctl":
        return ctl(args)
    return run(args)


def ctl(args: argparse.Namespace) -> int:
    try:
        url = control_url(url=args.url, data_dir=Path(args.data_dir) if args.data_dir else None)
        client = ControlClient(url)
        if args.action == "status":
            print(render_table(client.status(args.name)))
        elif args.action == "metrics":
            print(client.metrics(), end="")
        elif not args.name:
            print(f"ctl {args.action} needs a NAME (`ctl status` lists them)", file=sys.stderr)
            return 2
        else:
            print(client.act(args.name, args.action))
    except ControlError as exc:
        print(f"ctl {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
