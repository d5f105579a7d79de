"""Netflix: Chaos Monkey. The mix load (locust) under the seeded chaos monkey of ``make chaos``
(kills, pauses, fault flags) with its invariant checkers: does every invariant hold, and what
share of edge requests failed outside the failover windows."""

import asyncio

from loadtests.chaos import monkey
from loadtests.chaos.monkey import Stage
from loadtests.chaos.stage import AnsweringControl
from loadtests.experiments.lab import Lab
from loadtests.experiments.model import Check, Experiment, Findings, Scale, Series

RUN = {Scale.SMALL: (20.0, "small"), Scale.FULL: (600.0, "default")}
"""(seconds, intensity)."""
SEED = 7
BUDGET = 0.001
"""The hypothesis: 0.1% of edge requests outside failover windows (``make chaos`` allows 1%)."""


async def run(lab: Lab, scale: Scale) -> Findings:
    duration, intensity = RUN[scale]
    stage = Stage(
        edge_url=lab.edge_url,
        pop_urls=lab.pop_urls,
        acquirer_urls=lab.acquirer_urls,
        payments_database_url=lab.database_urls["payments"],
        dispatch_database_url=lab.database_urls["dispatch"],
        admin_headers=lab.admin_headers,
        flag_file=lab.flag_file,
        control=AnsweringControl(lab.control),
    )
    lab.disturb_everything()  # the monkey's own actions: everything must be ready afterwards
    outcome = await asyncio.to_thread(monkey.run, stage, SEED, duration, intensity)
    ratio = outcome.edge_errors_outside
    rows = [
        {"invariant": v.claim, "checked": v.checked, "violations": len(v.violations),
         "held": v.held}
        for v in outcome.verdicts
    ]  # fmt: skip
    broken = sum(not v.held for v in outcome.verdicts)
    samples = sorted(outcome.samples, key=lambda s: s.t)
    return Findings(
        table=rows,
        checks=[
            Check("invariants broken", broken, "<=", 0),
            Check(
                "edge errors outside failover windows", ratio.value * 100, "<=", BUDGET * 100, "%"
            ),
        ],
        setup={
            "schedule": f"seed {SEED}, {duration:.0f} s at intensity {intensity}: "
            f"{len(outcome.actions)} faults",
            "load": f"the mix (locust, headless): {outcome.load.get('requests', 'n/a')} requests",
            "edge errors": f"{ratio.errors} of {ratio.total} probes outside failover windows",
        },
        series=[
            Series("edge probe latency ms", [(s.t, s.latency_ms) for s in samples if s.ok], "ms")
        ],
        notes=[f"{a['at_s']} s: {a['description']} ({a['answer']})" for a in outcome.applied],
    )


EXPERIMENT = Experiment(
    name="netflix-chaos-monkey",
    company="Netflix",
    claim="Chaos Engineering: invented Chaos Monkey, runs in production daily. In a system this "
    "distributed, failures are constant — must be resilient.",
    hypothesis="Under the seeded monkey every invariant holds (no payment twice or lost, no "
    "chat message lost or reordered, no driver on two trips, configs in order) and at most "
    "0.1% of edge requests fail outside failover windows.",
    action="make chaos's schedule (seed 7): kills, pauses, fault flags, under the mix load",
    run=run,
    kills=True,
)
