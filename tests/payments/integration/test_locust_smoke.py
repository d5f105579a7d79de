"""The payments locust scenario runs against the stack with zero failures (a few seconds)."""

import subprocess
import sys
from pathlib import Path

import pytest

from devstack.stack import NativeStack

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[3]


def test_the_payments_scenario_runs_without_failures(
    native_stack: NativeStack, tmp_path: Path
) -> None:
    locust = Path(sys.executable).parent / "locust"
    result = subprocess.run(
        [str(locust), "-f", str(ROOT / "loadtests/payments_locust.py"), "--headless", "-u", "4",
         "-r", "4", "-t", "4s", "--host", native_stack.edge_url, "--only-summary",
         "--csv", str(tmp_path / "smoke"), "--exit-code-on-error", "1"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    stats = (tmp_path / "smoke_stats.csv").read_text().splitlines()
    total = next(line for line in stats if ",Aggregated," in line).split(",")
    requests, failures = int(total[2]), int(total[3])
    assert requests > 10 and failures == 0
