"""Every locust scenario in loadtests/ runs against the native stack with zero failures (a few
seconds each): the CI smoke run of the load tests."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.stack import NativeStack

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(path.name for path in (ROOT / "loadtests").glob("*_locust.py"))


def test_there_is_a_scenario_per_service() -> None:
    assert {"catalog_locust.py", "chat_locust.py", "dispatch_locust.py", "payments_locust.py",
            "mix_locust.py"} <= set(SCENARIOS)  # fmt: skip


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_scenario_runs_without_failures(
    native_stack: NativeStack, tmp_path: Path, scenario: str
) -> None:
    locust = Path(sys.executable).parent / "locust"
    users = "10" if scenario == "mix_locust.py" else "4"  # one of each of its five user kinds
    result = subprocess.run(
        [str(locust), "-f", str(ROOT / "loadtests" / scenario), "--headless", "-u", users, "-r", users,
         "-t", "4s", "--host", native_stack.edge_url, "--only-summary",
         "--csv", str(tmp_path / "smoke"), "--exit-code-on-error", "1"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, "CHAT_LOCUST_CHANNEL_SIZES": "2,8,40"},  # small: a smoke run
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    stats = (tmp_path / "smoke_stats.csv").read_text().splitlines()
    total = next(line for line in stats if ",Aggregated," in line).split(",")
    requests, failures = int(total[2]), int(total[3])
    assert requests > 10 and failures == 0
