"""The simulator and the locust scenario run against the stack without errors (a few seconds)."""

import subprocess
import sys
from pathlib import Path

import pytest

from devstack.stack import NativeStack
from dispatch.simulate import simulate

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[3]


async def test_the_simulator_drives_trips_to_completion(native_stack: NativeStack) -> None:
    tally = await simulate(
        f"{native_stack.edge_url}/dispatch", drivers=60, rate=4.0, seconds=5.0, ping_s=1.0, seed=3
    )
    assert tally.requested >= 10 and tally.errors == 0
    assert tally.accepted >= 1 and tally.completed >= 1


def test_the_dispatch_locust_scenario_runs_without_failures(
    native_stack: NativeStack, tmp_path: Path
) -> None:
    locust = Path(sys.executable).parent / "locust"
    result = subprocess.run(
        [str(locust), "-f", str(ROOT / "loadtests/dispatch_locust.py"), "--headless", "-u", "4", "-r", "4",
         "-t", "4s", "--host", native_stack.edge_url, "--only-summary", "--csv", str(tmp_path / "smoke"),
         "--exit-code-on-error", "1"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    total = next(
        line
        for line in (tmp_path / "smoke_stats.csv").read_text().splitlines()
        if ",Aggregated," in line
    )
    requests, failures = int(total.split(",")[2]), int(total.split(",")[3])
    assert requests > 10 and failures == 0
