"""Every experiment at ``--scale small`` on the running stack: it measures, its verdict comes
from what it measured (CONFIRMED or not is the machine's business, not the test's), its report
is written, and everything it changed is back as it was."""

import operator
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.stack import NativeStack
from devstack.supervision import State
from loadtests.experiments.lab import Lab, lab_for, own_lab
from loadtests.experiments.model import Experiment, Outcome, Scale
from loadtests.experiments.registry import EXPERIMENTS
from loadtests.experiments.report import write_result
from loadtests.experiments.runner import run_one
from stackkit.flag_file import read_flag_file

pytestmark = pytest.mark.e2e

NAME = operator.attrgetter("name")
NO_RUNNER = "http://127.0.0.1:9"
"""The session's stack is not supervised: these experiments act on flags and routes only."""


def edge_routes(lab: Lab) -> list[str]:
    entries = httpx.get(f"{lab.pop_urls['pop-1']}/_edge/config", timeout=5).json()["entries"]
    return sorted(key for key in entries if key.startswith("route:"))


@pytest.fixture
def lab(native_stack: NativeStack) -> Lab:
    return lab_for(native_stack, NO_RUNNER)


@pytest.fixture(scope="module")
def supervised_lab() -> Iterator[Lab]:
    """The runner's own supervised stack, for the experiments that kill processes."""
    with own_lab() as lab:
        yield lab


async def measured_and_restored(experiment: Experiment, lab: Lab, tmp_path: Path) -> None:
    flags_before = read_flag_file(lab.flag_file)
    routes_before = edge_routes(lab)
    result = await run_one(experiment, lab, Scale.SMALL)

    assert result.outcome is not Outcome.ERROR, result.reason
    assert result.findings is not None and result.findings.checks
    assert all(check.measured == check.measured for check in result.findings.checks)  # not NaN
    md, js, _ = write_result(result, tmp_path)
    assert str(result.outcome) in md.read_text() and js.exists()

    assert read_flag_file(lab.flag_file) == flags_before
    assert edge_routes(lab) == routes_before


@pytest.mark.parametrize("experiment", [e for e in EXPERIMENTS if not e.kills], ids=NAME)
async def test_the_experiment_measures_and_reports_at_small_scale(
    experiment: Experiment, lab: Lab, tmp_path: Path
) -> None:
    await measured_and_restored(experiment, lab, tmp_path)


@pytest.mark.parametrize("experiment", [e for e in EXPERIMENTS if e.kills], ids=NAME)
async def test_an_experiment_that_kills_measures_and_brings_everything_back(
    experiment: Experiment, supervised_lab: Lab, tmp_path: Path
) -> None:
    await measured_and_restored(experiment, supervised_lab, tmp_path)
    statuses = supervised_lab.control.status()
    assert [s.name for s in statuses if s.state is not State.RUNNING] == []
