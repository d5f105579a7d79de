"""Run a locust scenario against the stack: headless with a report, or with locust's web UI.

    make load                       # the mix, 50 users, 60 s: loadtests/results/load-mix.html
    make load SCENARIO=chat LOAD_USERS=200 LOAD_TIME=5m LOAD_HOST=http://localhost:8080
    make load-ui                    # http://127.0.0.1:8089

If nothing answers at the default host (``make run`` or ``docker compose up`` not running), the
native stack is started for the run on the documented ports, and stopped afterwards.
"""

import argparse
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from devstack.servers import LocalServers
from devstack.stack import start_native_stack
from loadtests.report import RESULTS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_HOST = "http://127.0.0.1:8080"


def _answers(host: str) -> bool:
    try:
        return httpx.get(f"{host}/catalog/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def stack_at(host: str) -> Iterator[None]:
    """The stack at ``host``: already there, or (for the default host) started for the run."""
    if _answers(host):
        yield
        return
    if host != DEFAULT_HOST:
        raise SystemExit(f"nothing answers at {host}/catalog/readyz")
    print("no stack at the default host: starting the native stack for this run ...", flush=True)
    with LocalServers.create() as servers:
        stack = start_native_stack(servers, default_ports=True)
        try:
            yield
        finally:
            stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="mix", help="catalog, chat, dispatch, payments, mix")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--spawn-rate", type=float, default=10)
    parser.add_argument("--time", default="60s", help="headless run length (locust syntax)")
    parser.add_argument("--ui", action="store_true", help="locust's web UI instead")
    args = parser.parse_args()
    locustfile = ROOT / "loadtests" / f"{args.scenario}_locust.py"
    if not locustfile.exists():
        raise SystemExit(f"no scenario {locustfile.name}")
    locust = [sys.executable, "-m", "locust", "-f", str(locustfile), "--host", args.host]
    if args.ui:
        command = [*locust, "--web-host", "127.0.0.1", "--web-port", "8089",
                   "-u", str(args.users), "-r", str(args.spawn_rate)]  # fmt: skip
        print("locust web UI: http://127.0.0.1:8089 (Ctrl-C stops)", flush=True)
    else:
        RESULTS.mkdir(exist_ok=True)
        report = RESULTS / f"load-{args.scenario}"
        command = [*locust, "--headless", "-u", str(args.users), "-r", str(args.spawn_rate),
                   "-t", args.time, "--html", f"{report}.html", "--csv", str(report),
                   "--print-stats"]  # fmt: skip
    with stack_at(args.host):
        completed = subprocess.run(command, cwd=ROOT, check=False)
    if not args.ui:
        print(f"report: {report}.html, CSVs: {report}_*.csv", flush=True)
    sys.exit(completed.returncode)


if __name__ == "__main__":
    main()
