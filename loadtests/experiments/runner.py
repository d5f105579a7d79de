"""Runs experiments one after another on one lab: each ends with a verdict, an ERROR one when it
could not measure, and with everything it changed put back before the next one starts."""

import asyncio
import platform
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtests.experiments.lab import Lab, StepTimeout
from loadtests.experiments.model import Experiment, Outcome, Result, Scale, verdict
from loadtests.experiments.report import write_result, write_summary

STEP_LIMIT_S = {Scale.SMALL: 120.0, Scale.FULL: 900.0}
"""No experiment runs longer than this: past it, it is stopped and reported as an ERROR."""


def machine() -> dict[str, Any]:
    import os

    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
    }


async def run_one(experiment: Experiment, lab: Lab, scale: Scale) -> Result:
    started = datetime.now(UTC).isoformat(timespec="seconds")
    clock = time.monotonic()
    findings = None
    try:
        findings = await asyncio.wait_for(experiment.run(lab, scale), STEP_LIMIT_S[scale])
        outcome, reason = verdict(findings.checks)
    except (TimeoutError, StepTimeout) as exc:
        outcome, reason = Outcome.ERROR, f"timed out: {exc or STEP_LIMIT_S[scale]}"
    except Exception as exc:  # an experiment's failure is its verdict, never the others'
        outcome, reason = Outcome.ERROR, f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    undone = await lab.restore()
    if undone:
        reason += f" (and could not restore: {'; '.join(undone)})"
        if outcome is not Outcome.ERROR:
            outcome = Outcome.ERROR
    return Result(
        experiment=experiment,
        scale=scale,
        outcome=outcome,
        reason=reason,
        findings=findings,
        started_at=started,
        duration_s=time.monotonic() - clock,
        machine=machine(),
    )


async def run_all(
    experiments: Sequence[Experiment], lab: Lab, scale: Scale, results: Path
) -> list[Result]:
    """Every experiment in turn, each report written as soon as it ends, then the summary."""
    done: list[Result] = []
    for experiment in experiments:
        print(f"experiment {experiment.name} ({scale}) ...", flush=True)
        result = await run_one(experiment, lab, scale)
        paths = write_result(result, results)
        print(f"  {result.outcome}: {result.reason}\n  -> {paths[0]}", flush=True)
        done.append(result)
    write_summary(done, results)
    return done
