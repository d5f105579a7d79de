"""``make chaos``: the mix load, a seeded schedule of faults, and the invariants checked throughout.

    make chaos                                   # 60 s, intensity small, a random seed
    make chaos SEED=42 DURATION=10m INTENSITY=default

A supervised native stack is started for the run on free ports (so a ``make run`` beside it is
untouched). Locust runs the mix headless through the edge while the monkey kills, pauses and
resumes processes and servers through the runner's control plane and flips fault flags in the
stack's flag file; the checkers watch chat, payments, trips, the edge's config and its errors.
It ends with ``loadtests/results/chaos-<seed>.{md,json,png}`` and exits 1 if an invariant broke.
"""

import argparse
import asyncio
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from loadtests.chaos import report
from loadtests.chaos.checkers import (
    ChatChecker,
    Clock,
    ConfigChecker,
    EdgeProber,
    PaymentsChecker,
    TripsChecker,
)
from loadtests.chaos.invariants import error_ratio_outside
from loadtests.chaos.schedule import (
    INTENSITIES,
    Action,
    ActionKind,
    Target,
    failover_windows,
    plan,
)
from loadtests.report import RESULTS
from stackkit.flag_catalog import SPECS_BY_KEY
from stackkit.flag_file import read_flag_file, set_flag

ROOT = Path(__file__).resolve().parents[2]
EDGE_ERROR_BUDGET = 0.01
"""Edge requests failing outside failover windows, at the most: faults are expected to cost
errors while they are in force and recovering, not after."""
LOCUST_SETUP_S = 300.0
"""How long locust may take to seed its scenarios and spawn its users."""
GRACE_S = 60.0
"""After the last fault, how long the checkers wait for the stack to catch up (a restarted
consumer rejoining, clients reconnecting) before judging."""
USERS = {"small": 10, "default": 30, "high": 50}
"""Locust users of the mix per intensity (the 2-core machine runs the stack, locust and the
checkers at once)."""

KILLED = ("catalog", "dispatch", "dispatch-2", "chat", "chat-gateway", "chat-gateway-2",
          "chat-fanout", "payments", "payments-worker", "edge-pop-1", "edge-pop-2",
          "edge-pop-3")  # fmt: skip
"""Processes the monkey may SIGKILL (the supervisor restarts them). Not the anycast entry (the
front door stands for the network itself) nor the acquirers (they stand for the banks, and
hold their ledger in memory: the payments invariant reads it)."""
PAUSED = ("postgres", "redis", "redis-b", "kafka", "acquirer-a", "acquirer-b", "chat-fanout",
          "payments-worker")  # fmt: skip
"""What the monkey may SIGSTOP for a while: a hung peer whose connections stay open. Kafka and
the CQL server keep their data only in memory, so they are paused, never killed."""
FLAGGED = {
    "fault.redis": ("slow", "flaky"),
    "fault.postgres": ("slow", "flaky"),
    "fault.kafka.produce": ("slow", "flaky"),
    "fault.origin": ("slow", "flaky"),
    "fault.acquirer": ("slow", "flaky"),
    "fault.gateway.write": ("slow", "flaky"),
    "catalog.cacheZoneADown": ("on",),
    "chat.fanoutStall": ("on",),
    "edge.upperTierDown": ("on",),
    "payments.acquirerTimeouts": ("on",),
}
"""Fault flags and the variants the monkey may set (each goes back to its default after)."""


def targets(flag_file: Path) -> list[Target]:
    """Every target, with only the flags and variants the stack's flag file declares."""
    declared = read_flag_file(flag_file)["flags"]
    chosen = [Target(name, (ActionKind.KILL,)) for name in KILLED if name not in PAUSED]
    chosen += [
        Target(name, (ActionKind.KILL, ActionKind.PAUSE) if name in KILLED else (ActionKind.PAUSE,))
        for name in PAUSED
    ]
    for key, variants in FLAGGED.items():
        known = tuple(v for v in variants if v in declared.get(key, {}).get("variants", {}))
        if key in SPECS_BY_KEY and known:
            chosen.append(Target(key, (ActionKind.FLAG,), known))
    return chosen


class Control(Protocol):
    """The runner's control plane (``python -m devstack ctl``): the one way to hurt a process."""

    def act(self, name: str, action: str) -> str:
        """Do ``action`` (kill, pause, resume) to ``name``; a short answer for the report."""
        ...


@dataclass
class Stage:
    """Where the run's stack is and how to reach into it."""

    edge_url: str
    pop_urls: dict[str, str]
    acquirer_urls: dict[str, str]
    payments_database_url: str
    dispatch_database_url: str
    admin_headers: dict[str, str]
    flag_file: Path
    control: Control


class Monkey:
    def __init__(self, stage: Stage, actions: list[Action], clock: Clock) -> None:
        self.stage = stage
        self.actions = actions
        self.clock = clock
        self.applied: list[dict[str, Any]] = []
        defaults = read_flag_file(stage.flag_file)["flags"]
        self._defaults = {key: flag["defaultVariant"] for key, flag in defaults.items()}

    async def run(self) -> None:
        await asyncio.gather(*(self._carry_out(action) for action in self.actions))

    async def _at(self, t: float) -> None:
        await asyncio.sleep(max(0.0, t - self.clock.now()))

    async def _carry_out(self, action: Action) -> None:
        await self._at(action.at_s)
        if action.kind is ActionKind.FLAG:
            answer = await asyncio.to_thread(self._flag, action.target, action.variant)
            self._note(action, answer)
            await self._at(action.ends_s)
            await asyncio.to_thread(self._flag, action.target, self._defaults[action.target])
            return
        if action.kind is ActionKind.PAUSE:
            self._note(action, await asyncio.to_thread(self.stage.control.act, action.target,
                                                       "pause"))  # fmt: skip
            await self._at(action.ends_s)
            await asyncio.to_thread(self.stage.control.act, action.target, "resume")
            return
        self._note(action, await asyncio.to_thread(self.stage.control.act, action.target, "kill"))

    def _flag(self, key: str, variant: str) -> str:
        set_flag(self.stage.flag_file, key, variant)
        return f"{key}={variant}"

    def _note(self, action: Action, answer: str) -> None:
        self.applied.append({"at_s": round(self.clock.now(), 1), "planned_at_s": action.at_s,
                             "description": action.describe(), "answer": answer})  # fmt: skip
        print(f"[chaos {self.clock.now():6.1f}s] {action.describe()}: {answer}", flush=True)


async def observe(
    stage: Stage, actions: list[Action], duration_s: float
) -> tuple[list[Any], list[dict[str, Any]], EdgeProber]:
    """Run the checkers and the monkey for ``duration_s``; return the verdicts."""
    chat = ChatChecker(stage.edge_url)
    pays = PaymentsChecker(stage.edge_url, stage.payments_database_url, stage.acquirer_urls)
    trips = TripsChecker(stage.dispatch_database_url)
    config = ConfigChecker(stage.edge_url, stage.pop_urls, stage.admin_headers)
    await chat.setup()
    await pays.setup()
    clock = Clock()  # the schedule's zero: every checker set up, the load running
    prober = EdgeProber(stage.edge_url, clock)
    monkey = Monkey(stage, actions, clock)
    watching = [asyncio.create_task(c.run()) for c in (chat, pays, trips, config, prober)]
    try:
        await asyncio.wait_for(monkey.run(), timeout=duration_s + 30)
        await asyncio.sleep(max(0.0, duration_s - clock.now()))
    finally:
        for task in watching[1:]:  # chat keeps its clients connected for its verdict
            task.cancel()
        await asyncio.gather(*watching[1:], return_exceptions=True)
    verdicts = [await chat.verdict(GRACE_S), await pays.verdict(), trips.verdict(),
                config.verdict()]  # fmt: skip
    watching[0].cancel()
    await asyncio.gather(watching[0], return_exceptions=True)
    return verdicts, monkey.applied, prober


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``10m``, ``1h`` -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 60s, 10m)")
    return float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]


@contextmanager
def locust(edge_url: str, users: int, duration_s: float, seed: int) -> Iterator[dict[str, Any]]:
    """The mix, headless, for the run; its summary goes into the report."""
    prefix = RESULTS / f"chaos-{seed}-load"
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "loadtests" / "mix_locust.py"),
               "--host", edge_url, "--headless", "-u", str(users), "-r", str(max(1, users // 5)),
               "-t", f"{int(duration_s + LOCUST_SETUP_S)}s", "--csv", str(prefix),
               "--only-summary"]  # fmt: skip
    summary: dict[str, Any] = {"users": users, "csv": f"{prefix}_stats.csv"}
    log = Path(f"{prefix}.log").open("w")  # noqa: SIM115 (closed below, after the process)
    summary["log"] = log.name
    started = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log,
                               stderr=subprocess.STDOUT)  # fmt: skip
    try:
        _wait_for_spawned(started, Path(log.name))
        yield summary
    finally:
        started.send_signal(signal.SIGINT)  # locust stops its users and writes its summary
        try:
            started.wait(timeout=60)
        except subprocess.TimeoutExpired:
            started.kill()
        log.close()
        summary["locust_exit"] = started.returncode
        summary |= _locust_totals(Path(f"{prefix}_stats.csv"))


def _wait_for_spawned(process: "subprocess.Popen[bytes]", log: Path) -> None:
    """Until locust has spawned every user: its set-up (the chat scenario seeds channels of up
    to 10,000 members) must not eat into the chaos schedule."""
    deadline = time.monotonic() + LOCUST_SETUP_S
    while "All users spawned" not in log.read_text():
        if process.poll() is not None:
            raise SystemExit(f"locust exited ({process.returncode}) before spawning: see {log}")
        if time.monotonic() > deadline:
            raise SystemExit(f"locust did not spawn its users in {LOCUST_SETUP_S:.0f}s: see {log}")
        time.sleep(0.5)


def _locust_totals(stats: Path) -> dict[str, Any]:
    if not stats.exists():
        return {}
    rows = stats.read_text().splitlines()
    header = rows[0].split(",")
    for row in rows[1:]:
        cells = dict(zip(header, row.split(","), strict=False))
        if cells.get("Name") == "Aggregated":
            return {"requests": int(cells["Request Count"]),
                    "failures": int(cells["Failure Count"]),
                    "p99_ms": cells.get("99%", "")}  # fmt: skip
    return {}


def run(stage: Stage, seed: int, duration_s: float, intensity: str) -> report.Outcome:
    actions = plan(seed, duration_s, INTENSITIES[intensity], targets(stage.flag_file))
    print(f"chaos: seed {seed}, {duration_s:.0f}s at {intensity}: {len(actions)} faults",
          flush=True)  # fmt: skip
    with locust(stage.edge_url, USERS[intensity], duration_s, seed) as load:
        verdicts, applied, prober = asyncio.run(observe(stage, actions, duration_s))
    windows = failover_windows(actions)
    ratio = error_ratio_outside(((s.t, not s.ok) for s in prober.samples), windows)
    return report.Outcome(seed, duration_s, intensity, actions, applied, verdicts, ratio,
                          EDGE_ERROR_BUDGET, prober.samples, load)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.chaos", description=__doc__)
    parser.add_argument("--seed", type=int, default=None, help="default: a random one, printed")
    parser.add_argument("--duration", type=parse_duration, default=60.0, help="60s, 10m, ...")
    parser.add_argument("--intensity", choices=sorted(INTENSITIES), default="small")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    from loadtests.chaos.stage import supervised_stage

    started = time.monotonic()
    with supervised_stage() as stage:
        outcome = run(stage, seed, args.duration, args.intensity)
    base = report.write(outcome, RESULTS)
    for verdict in outcome.verdicts:
        mark = "held" if verdict.held else "BROKEN"
        print(f"  {mark:6} {verdict.claim} ({verdict.checked:,} checked)")
        for line in verdict.violations[:10]:
            print(f"           {line}")
    ratio = outcome.edge_errors_outside
    print(f"  edge errors outside failover windows: {ratio.errors}/{ratio.total}"
          f" ({ratio.value:.2%}, budget {EDGE_ERROR_BUDGET:.0%})")  # fmt: skip
    print(f"report: {base}.md (.json, .png); {time.monotonic() - started:.0f}s in all")
    return 0 if outcome.held else 1
