"""``docker compose up`` of the real docker-compose.yml plus the stand-ins, for a test to drive
through the edge's one published port, and everything the run made removed afterwards."""

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devstack.containers.engine import ROOT, Engine, open_engine
from devstack.containers.health import HealthTicker
from devstack.containers.images import BASE_IMAGES, INFRA, ImageBuilder
from devstack.processes import free_port

PROJECT = "rwa-containers"
COMPOSE_FILES = (
    ROOT / "docker-compose.yml",
    ROOT / "docker-compose.local.yml",
    INFRA / "compose.test.yml",
)
UP_TIMEOUT_S = 600


class StackFailed(RuntimeError):
    pass


@dataclass
class ContainerStack:
    engine: Engine
    edge_url: str
    timings: dict[str, float]

    def compose(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.engine.compose(COMPOSE_FILES, PROJECT, *args)

    def logs(self, *services: str, tail: int = 40) -> str:
        """The last ``tail`` log lines of each of ``services``: what a failed smoke step needs."""
        shown = self.engine.compose(
            COMPOSE_FILES, PROJECT, "logs", "--no-color", "--tail", str(tail), *services,
            capture=True,
        )  # fmt: skip
        return f"{shown.stdout}{shown.stderr}"


def _statuses(engine: Engine) -> dict[str, str]:
    """Container name -> status (``Up 5 seconds (healthy)``) for the project's containers."""
    listed = engine.cli(
        "ps", "--all", "--filter", f"label=com.docker.compose.project={PROJECT}",
        "--format", "{{.Names}}\t{{.Status}}", check=False,
    )  # fmt: skip
    return dict(row.partition("\t")[::2] for row in listed.stdout.splitlines() if row)


def _explain_failure(engine: Engine) -> str:
    """Which containers are not healthy, with their last log lines: what a red CI run needs."""
    statuses = _statuses(engine)
    lines = [f"{name}: {status}" for name, status in sorted(statuses.items())]
    for name, status in sorted(statuses.items()):
        if "(healthy)" not in status:
            logs = engine.cli("logs", "--tail", "25", name, check=False)
            health = engine.cli("inspect", "--format", "{{json .State.Health}}", name, check=False)
            lines.append(f"--- {name} ({status})\nhealth: {health.stdout[-1500:]}\n"
                         f"{logs.stdout}{logs.stderr}")  # fmt: skip
    return "\n".join(lines)


@contextmanager
def container_stack(workdir: Path, *, keep_bases: bool = False) -> Iterator[ContainerStack]:
    """Build every image, bring the stack up healthy, yield it; always take it all down.
    ``keep_bases`` reuses and keeps the local bases and stand-ins (a developer's inner loop)."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    engine = open_engine(workdir)
    engine.remember_images()
    try:
        report = ImageBuilder(engine, workdir, reuse_bases=keep_bases).build_all()
        timings["build"] = time.monotonic() - started
        print("\n".join(["images (build time, size):", *report.lines()]), flush=True)
        port = free_port()
        engine.env["RWA_EDGE_PORT"] = str(port)
        with HealthTicker(engine, PROJECT) as ticker:
            up_started = time.monotonic()
            up = engine.compose(
                COMPOSE_FILES, PROJECT, "up", "--detach", "--no-build", "--pull", "never",
                "--wait", "--wait-timeout", str(UP_TIMEOUT_S), timeout_s=UP_TIMEOUT_S + 60,
            )  # fmt: skip
            timings["up"] = time.monotonic() - up_started
            # Not only the exit status: every container must say healthy (none may have exited).
            statuses = _statuses(engine)
            if up.returncode != 0 or not all("(healthy)" in s for s in statuses.values()):
                raise StackFailed(f"compose up failed:\n{_explain_failure(engine)}")
            print(f"stack healthy in {timings['up']:.0f} s ({ticker.checks_run} healthchecks run)")
            yield ContainerStack(engine, f"http://127.0.0.1:{port}", timings)
    finally:
        down_started = time.monotonic()
        engine.compose(COMPOSE_FILES, PROJECT, "down", "--volumes", "--remove-orphans",
                       "--timeout", "10", timeout_s=300)  # fmt: skip
        removed = engine.remove_new_images(keep=BASE_IMAGES if keep_bases else ())
        engine.stop()
        timings["down"] = time.monotonic() - down_started
        timings["total"] = time.monotonic() - started
        print(f"removed the project and {len(removed)} images; timings (s): "
              + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()), flush=True)  # fmt: skip
