"""The chaos run's report: Markdown and JSON for people and CI, a timeline PNG of the faults
against the edge's error rate and latency, in ``loadtests/results/chaos-<seed>.*``."""

import json
import platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtests.chaos.checkers import Sample
from loadtests.chaos.invariants import Ratio, Verdict
from loadtests.chaos.schedule import Action, ActionKind

BUCKET_S = 5.0


@dataclass
class Outcome:
    seed: int
    duration_s: float
    intensity: str
    actions: list[Action]
    applied: list[dict[str, Any]]
    """What was actually done, with the time and the control plane's answer."""
    verdicts: list[Verdict]
    edge_errors_outside: Ratio
    edge_error_budget: float
    samples: list[Sample]
    load: dict[str, Any]

    @property
    def held(self) -> bool:
        return all(v.held for v in self.verdicts) and (
            self.edge_errors_outside.value <= self.edge_error_budget
        )


def _p(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def buckets(samples: Sequence[Sample]) -> list[dict[str, float]]:
    """Per ``BUCKET_S`` seconds: requests, error ratio, p50 and p99 latency."""
    by_bucket: dict[int, list[Sample]] = {}
    for sample in samples:
        by_bucket.setdefault(int(sample.t // BUCKET_S), []).append(sample)
    rows = []
    for index in sorted(by_bucket):
        chunk = by_bucket[index]
        latencies = [s.latency_ms for s in chunk]
        rows.append({
            "t": index * BUCKET_S,
            "requests": len(chunk),
            "error_ratio": sum(not s.ok for s in chunk) / len(chunk),
            "p50_ms": _p(latencies, 0.5),
            "p99_ms": _p(latencies, 0.99),
        })  # fmt: skip
    return rows


def write(outcome: Outcome, results: Path) -> Path:
    results.mkdir(parents=True, exist_ok=True)
    base = results / f"chaos-{outcome.seed}"
    date = datetime.now(UTC).isoformat(timespec="seconds")
    machine = f"{platform.machine()}, Python {platform.python_version()}"
    document = {
        "seed": outcome.seed,
        "duration_s": outcome.duration_s,
        "intensity": outcome.intensity,
        "held": outcome.held,
        "date": date,
        "machine": machine,
        "faults": [a.as_dict() for a in outcome.actions],
        "applied": outcome.applied,
        "invariants": [{**asdict(v), "held": v.held} for v in outcome.verdicts],
        "edge_errors_outside_failover": {
            "errors": outcome.edge_errors_outside.errors,
            "requests": outcome.edge_errors_outside.total,
            "ratio": outcome.edge_errors_outside.value,
            "budget": outcome.edge_error_budget,
        },
        "edge_timeline": buckets(outcome.samples),
        "load": outcome.load,
    }
    base.with_suffix(".json").write_text(json.dumps(document, indent=2))
    base.with_suffix(".md").write_text(_markdown(outcome, document))
    _plot(outcome, base.with_suffix(".png"))
    return base


def _markdown(outcome: Outcome, document: dict[str, Any]) -> str:
    ratio = outcome.edge_errors_outside
    lines = [
        f"# Chaos run, seed {outcome.seed}: {'every invariant held' if outcome.held else 'BROKEN'}",
        "",
        f"{outcome.duration_s:.0f} s at intensity `{outcome.intensity}`, {document['machine']},"
        f" {document['date']}. Replay: `make chaos SEED={outcome.seed}"
        f" DURATION={outcome.duration_s:.0f}s INTENSITY={outcome.intensity}`.",
        "",
        "| invariant | checked | violations | held |",
        "|---|---:|---:|---|",
    ]
    for verdict in outcome.verdicts:
        lines.append(f"| {verdict.claim} | {verdict.checked:,} | {len(verdict.violations)} |"
                     f" {'yes' if verdict.held else '**no**'} |")  # fmt: skip
    within = ratio.value <= outcome.edge_error_budget
    lines.append(
        f"| edge 5xx outside failover windows ≤ {outcome.edge_error_budget:.1%} | {ratio.total:,}"
        f" | {ratio.errors} ({ratio.value:.2%}) | {'yes' if within else '**no**'} |"
    )
    lines += ["", f"## Faults ({len(outcome.actions)})", "", "| at (s) | fault | answer |",
              "|---:|---|---|"]  # fmt: skip
    for applied in outcome.applied:
        lines.append(f"| {applied['at_s']:.1f} | {applied['description']} | {applied['answer']} |")
    broken = [v for v in outcome.verdicts if v.violations]
    if broken:
        lines += ["", "## Violations", ""]
        for verdict in broken:
            lines += [f"- {verdict.name}: {line}" for line in verdict.violations[:20]]
    if outcome.load:
        lines += ["", "## Load", "", *(f"- {k}: {v}" for k, v in outcome.load.items())]
    return "\n".join(lines) + "\n"


def _plot(outcome: Outcome, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = buckets(outcome.samples)
    fig, (faults, errors, latency) = plt.subplots(
        3, 1, figsize=(11, 7), sharex=True, gridspec_kw={"height_ratios": [2, 1, 1]}
    )
    targets = sorted({a.target for a in outcome.actions})
    colours = {ActionKind.KILL: "tab:red", ActionKind.PAUSE: "tab:orange",
               ActionKind.FLAG: "tab:purple"}  # fmt: skip
    for action in outcome.actions:
        y = targets.index(action.target)
        width = max(action.hold_s, 1.0)
        faults.barh(y, width, left=action.at_s, color=colours[action.kind], height=0.6)
    faults.set_yticks(range(len(targets)), targets, fontsize=7)
    faults.set_title(f"chaos seed {outcome.seed}: kills (red), pauses (orange), flags (purple)")
    xs = [r["t"] for r in rows]
    errors.plot(xs, [100 * r["error_ratio"] for r in rows], color="tab:red")
    errors.set_ylabel("edge errors %")
    latency.plot(xs, [r["p50_ms"] for r in rows], label="p50")
    latency.plot(xs, [r["p99_ms"] for r in rows], label="p99")
    latency.set_ylabel("ms")
    latency.set_xlabel("seconds")
    latency.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
