"""``python -m loadtests.experiments [NAME ...] [--scale small|full]``: run experiments on a
supervised native stack of their own and write their reports."""

import argparse
import asyncio
import sys
from pathlib import Path

from loadtests.experiments.lab import own_lab
from loadtests.experiments.model import Outcome, Scale
from loadtests.experiments.registry import BY_NAME, EXPERIMENTS
from loadtests.experiments.report import RESULTS
from loadtests.experiments.runner import run_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.experiments", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help="experiments (default: all)")
    parser.add_argument("--scale", choices=[s.value for s in Scale], default=Scale.FULL.value)
    parser.add_argument("--results", type=Path, default=RESULTS, help="where reports go")
    parser.add_argument("--list", action="store_true", help="list the experiments and stop")
    args = parser.parse_args(argv)
    if args.list:
        for experiment in EXPERIMENTS:
            print(f"{experiment.name:<32} {experiment.hypothesis}")
        return 0
    unknown = [name for name in args.names if name not in BY_NAME]
    if unknown:
        print(f"unknown experiment(s): {', '.join(unknown)}; known: {', '.join(BY_NAME)}",
              file=sys.stderr)  # fmt: skip
        return 2
    chosen = [BY_NAME[name] for name in args.names] if args.names else list(EXPERIMENTS)
    print("experiments: starting a supervised native stack on free ports ...", flush=True)
    with own_lab() as lab:
        results = asyncio.run(run_all(chosen, lab, Scale(args.scale), args.results))
    errors = [r for r in results if r.outcome is Outcome.ERROR]
    print(f"experiments: {len(results)} run, {len(errors)} ERROR; summary in "
          f"{args.results / 'summary.md'}")  # fmt: skip
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
