"""Every benchmark, one after another, into one report: ``make bench``.

Each benchmark measures its service beside a baseline in the same run (raw Redis commands,
pgbench, nginx, the system.local read, a target) and writes ``loadtests/results/<name>.json``;
this collects them into ``loadtests/results/bench.md`` and ``bench.json`` (metric, value,
baseline, ratio, machine, date) and draws the latency distributions the benchmarks recorded as
PNG (``bench-<name>.png``: cumulative distributions, log scale, the baseline dashed).
"""

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from loadtests.report import RESULTS, machine

BENCHES = [
    ("cql", "loadtests.cql_bench", "the CQL development server through cassandra-driver"),
    ("catalog", "loadtests.catalog_bench", "title reads, plays through Kafka, steering"),
    ("dispatch", "loadtests.dispatch_bench", "location ingest and nearby queries"),
    ("payments", "loadtests.payments_bench", "confirmed payments beside pgbench"),
    ("chat", "loadtests.chat_fanout", "10,000 WebSocket clients in one channel"),
    ("edge", "loadtests.edge_bench", "PoPs beside nginx proxy_cache, config propagation"),
    ("tracing", "loadtests.tracing_bench", "cache hits and confirms: off, 10% and every trace"),
]
HEARTBEAT_S = 15.0


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def run_one(index: int, name: str, module: str, started: float) -> float:
    """Runs one benchmark, echoing its output with a progress prefix; its duration."""
    began = time.monotonic()
    prefix = f"[{index}/{len(BENCHES)} {name}]"
    print(f"{prefix} starting ({_clock(began - started)} into make bench)", flush=True)
    process = subprocess.Popen([sys.executable, "-m", module], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, bufsize=1)  # fmt: skip
    last_output = [time.monotonic()]
    finished = threading.Event()

    def heartbeat() -> None:
        while not finished.wait(1.0):
            if time.monotonic() - last_output[0] > HEARTBEAT_S:
                print(f"{prefix} still running, {_clock(time.monotonic() - began)}", flush=True)
                last_output[0] = time.monotonic()

    ticker = threading.Thread(target=heartbeat, daemon=True)
    ticker.start()
    assert process.stdout is not None
    for line in process.stdout:
        last_output[0] = time.monotonic()
        if line.startswith("|") or not line.strip():
            continue  # its table comes back in the combined report
        print(f"{prefix} {line.rstrip()}", flush=True)
    finished.set()
    if process.wait() != 0:
        raise SystemExit(f"{prefix} failed (exit {process.returncode})")
    took = time.monotonic() - began
    print(f"{prefix} done in {_clock(took)}", flush=True)
    return took


def plot(name: str, samples: dict[str, list[float]]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5))
    for label, values in samples.items():
        ordered = sorted(values)
        share = [(i + 1) / len(ordered) for i in range(len(ordered))]
        style = "--" if "baseline" in label else "-"
        axes.plot(ordered, share, style, label=f"{label} (n={len(ordered):,})")
    axes.set_xscale("log")
    axes.set_xlabel("latency, ms (log scale)")
    axes.set_ylabel("share of requests at or below")
    axes.axhline(0.99, color="grey", linewidth=0.5)
    axes.set_title(f"{name}: latency distribution")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8, loc="lower right")
    path = RESULTS / f"bench-{name}.png"
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def combine(durations: dict[str, float], total_s: float) -> str:
    rows: list[dict[str, Any]] = []
    sections = [f"# make bench: {machine()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
                "", f"All benchmarks in {_clock(total_s)}. Ratios are value / baseline, each "
                "baseline measured in the same run.", ""]  # fmt: skip
    for name, _, about in BENCHES:
        if name not in durations:
            continue
        table = (RESULTS / f"{name}.md").read_text().strip().splitlines()
        sections += [f"## {name}: {about} ({_clock(durations[name])})", "", f"_{table[0]}_",
                     "", *table[1:], ""]  # fmt: skip
        rows += [
            {"bench": name, **row} for row in json.loads((RESULTS / f"{name}.json").read_text())
        ]
        samples_path = RESULTS / f"{name}.samples.json"
        if samples_path.exists():
            picture = plot(name, json.loads(samples_path.read_text()))
            sections += [f"![{name} latency]({picture.name})", ""]
    (RESULTS / "bench.json").write_text(json.dumps(rows, indent=2))
    report = "\n".join(sections)
    (RESULTS / "bench.md").write_text(report + "\n")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="some of: " + ", ".join(n for n, *_ in BENCHES))
    args = parser.parse_args()
    chosen = [b for b in BENCHES if not args.only or b[0] in args.only]
    started = time.monotonic()
    durations = {}
    for index, (name, module, _) in enumerate(chosen, start=1):
        durations[name] = run_one(index, name, module, started)
    print(combine(durations, time.monotonic() - started))
    print(f"\nreport: {RESULTS / 'bench.md'} (and bench.json, bench-*.png)")


if __name__ == "__main__":
    main()
