"""An experiment's report: ``<name>.md`` (claim, setup, table, verdict), ``<name>.json`` (the
same, for machines and the console) and ``<name>.png`` (its series or bars); and a summary of a
run of several, ``summary.md``, one line per experiment."""

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loadtests.experiments.model import Result

RESULTS = Path(__file__).resolve().parents[1] / "results" / "experiments"


def write_result(result: Result, results: Path = RESULTS) -> tuple[Path, Path, Path | None]:
    results.mkdir(parents=True, exist_ok=True)
    name = result.experiment.name
    document = result.as_dict()
    png = _plot(result, results / f"{name}.png")
    document["plot"] = png.name if png else None
    json_path = results / f"{name}.json"
    json_path.write_text(json.dumps(document, indent=2, default=_plain) + "\n")
    md_path = results / f"{name}.md"
    md_path.write_text(markdown(document))
    return md_path, json_path, png


def _plain(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)


def markdown(document: dict[str, Any]) -> str:
    lines = [
        f"# {document['name']} ({document['company']})",
        "",
        f"> {document['claim']}",
        "",
        f"**Hypothesis.** {document['hypothesis']}",
        "",
        f"**Action.** {document['action']}",
        "",
        f"**Verdict: {document['outcome']}.** {document['reason']}",
        "",
        f"Scale `{document['scale']}`, {document['duration_s']:.0f} s, started "
        f"{document['started_at']} on {_machine(document['machine'])}.",
        "",
    ]
    if document["setup"]:
        lines += ["## Setup", ""]
        lines += [f"- {key}: {value}" for key, value in document["setup"].items()]
        lines.append("")
    if document["table"]:
        keys = list(document["table"][0])
        lines += ["## Measured", "", "| " + " | ".join(keys) + " |"]
        lines.append("|" + "---|" * len(keys))
        for row in document["table"]:
            lines.append("| " + " | ".join(_cell(row.get(key)) for key in keys) + " |")
        lines.append("")
    if document["checks"]:
        lines += [
            "## Checks",
            "",
            "| check | measured | bound | holds | margin |",
            "|---|---|---|---|---|",
        ]
        for check in document["checks"]:
            bound = f"{check['comparison']} {_cell(check['bound'])}{check['unit']}"
            measured = f"{_cell(check['measured'])}{check['unit']}"
            holds = "yes" if check["holds"] else "no"
            lines.append(
                f"| {check['name']} | {measured} | {bound} | {holds} | {check['margin']} |"
            )
        lines.append("")
    if document["notes"]:
        lines += ["## Notes", ""] + [f"- {note}" for note in document["notes"]] + [""]
    if document.get("plot"):
        lines += [f"![{document['name']}]({document['plot']})", ""]
    return "\n".join(lines)


def _machine(machine: dict[str, Any]) -> str:
    return f"{machine.get('cpus')} CPUs, {machine.get('platform')}, Python {machine.get('python')}"


def _cell(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _plot(result: Result, path: Path) -> Path | None:
    findings = result.findings
    if findings is None or not (findings.series or findings.bars):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 3.6))
    if findings.series:
        for series in findings.series:
            xs = [x for x, _ in series.points]
            ys = [y for _, y in series.points]
            axis.plot(xs, ys, label=series.label, linewidth=1.4)
        axis.set_xlabel("seconds")
        axis.set_ylabel(findings.series[0].unit)
        axis.legend(loc="best", fontsize=8)
    else:
        labels = list(findings.bars)
        axis.bar(labels, [findings.bars[label] for label in labels], color="#4878a8")
        axis.set_ylabel(findings.bars_unit)
        axis.tick_params(axis="x", labelsize=8)
    axis.set_title(f"{result.experiment.name}: {result.outcome}", fontsize=10)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def write_summary(results: Sequence[Result], directory: Path = RESULTS) -> Path:
    """One line per experiment: its verdict and its first check's figure."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["| experiment | verdict | figure |", "|---|---|---|"]
    for result in results:
        lines.append(f"| [{result.experiment.name}]({result.experiment.name}.md) | "
                     f"{result.outcome} | {headline(result)} |")  # fmt: skip
    path = directory / "summary.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def headline(result: Result) -> str:
    if result.findings is None or not result.findings.checks:
        return result.reason
    return "; ".join(check.describe() for check in result.findings.checks)
