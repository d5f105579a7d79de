"""One report format for every benchmark: a Markdown table and JSON in loadtests/results/."""

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
_SAMPLES: dict[str, dict[str, list[float]]] = {}


def record_samples(bench: str, label: str, values: list[float]) -> None:
    """Latencies (ms) worth a picture: written beside the report, plotted by ``make bench``."""
    _SAMPLES.setdefault(bench, {})[label] = [round(v, 4) for v in values]


def machine() -> str:
    return f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}"


def write_report(name: str, title: str, baseline_name: str, rows: list[dict[str, Any]]) -> str:
    """Rows of metric, value and baseline gain ratio, machine and date; returns the table."""
    date = datetime.now(UTC).isoformat(timespec="seconds")
    for row in rows:
        row["ratio"] = row["value"] / row["baseline"] if row["baseline"] else None
        row |= {"machine": machine(), "date": date}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(rows, indent=2))
    if name in _SAMPLES:
        (RESULTS / f"{name}.samples.json").write_text(json.dumps(_SAMPLES[name]))
    lines = [
        f"{title}, {machine()}, {date}",
        "",
        f"| metric | value | baseline ({baseline_name}) | ratio |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r['metric']} | {r['value']:,.2f} | {r['baseline']:,.2f} | {r['ratio']:.3f} |"
        for r in rows
    ]
    table = "\n".join(lines)
    (RESULTS / f"{name}.md").write_text(table + "\n")
    return table
