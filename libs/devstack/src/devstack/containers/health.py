"""Healthchecks under podman without systemd.

Podman does not run healthchecks itself: ``podman run`` hands each container's check to a
systemd timer (a transient ``podman healthcheck run ID`` unit). With no systemd nothing ever
runs it, the container stays ``starting`` for good, and compose's
``depends_on: {condition: service_healthy}`` (and ``up --wait``) wait for ever. Running
``podman healthcheck run`` by hand records a result exactly as the timer would: podman itself
applies the check's timeout, retries and start period, and the Docker-compatible API (what
compose polls) reports the status. So the ticker is the missing timer: each container of the
project, at its own configured interval.
"""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from devstack.containers.engine import Engine

NANOSECONDS = 1e9
DEFAULT_INTERVAL_S = 30.0  # Docker's default when a healthcheck names none


@dataclass
class Due:
    """When a container's next check is due, and how often it recurs."""

    interval_s: float
    next_at: float


def next_due(schedule: dict[str, Due], running: dict[str, float], now: float) -> list[str]:
    """The containers to check now; ``running`` maps each running container with a healthcheck
    to its interval. A container seen for the first time is checked at once (as the timer's
    first run is), then every interval; one that is gone leaves the schedule."""
    for gone in set(schedule) - set(running):
        del schedule[gone]
    due = []
    for container, interval_s in running.items():
        entry = schedule.setdefault(container, Due(interval_s, now))
        if entry.next_at <= now:
            due.append(container)
            entry.next_at = now + entry.interval_s
    return sorted(due)


class HealthTicker:
    """A thread running each healthcheck of a compose project's containers on schedule."""

    def __init__(self, engine: Engine, project: str, poll_s: float = 1.0, workers: int = 4) -> None:
        self.engine = engine
        self.project = project
        self.poll_s = poll_s
        self.workers = workers
        self.checks_run = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-ticker", daemon=True)
        self._intervals: dict[str, float] = {}

    def __enter__(self) -> "HealthTicker":
        if self.engine.kind == "podman":  # a Docker engine runs its own healthchecks
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _interval(self, container: str) -> float | None:
        """The container's configured interval (inspected once), None without a healthcheck."""
        if container not in self._intervals:
            found = self.engine.cli(
                "inspect", "--format", "{{json .Config.Healthcheck}}", container, check=False
            )
            if found.returncode != 0:
                return None
            check = json.loads(found.stdout or "null") or {}
            if not check.get("Test") or check["Test"][0] == "NONE":
                self._intervals[container] = 0.0
            else:
                interval = check.get("Interval") or 0
                self._intervals[container] = interval / NANOSECONDS or DEFAULT_INTERVAL_S
        return self._intervals[container] or None

    def _running(self) -> dict[str, float]:
        listed = self.engine.cli(
            "ps", "--filter", f"label=com.docker.compose.project={self.project}",
            "--filter", "status=running", "--format", "{{.ID}}", check=False,
        )  # fmt: skip
        intervals = {}
        for container in listed.stdout.split():
            interval = self._interval(container)
            if interval:
                intervals[container] = interval
        return intervals

    def _check(self, container: str) -> None:
        # Exit status 1 is an unhealthy result, already recorded by podman.
        self.engine.cli("healthcheck", "run", container, check=False, timeout_s=60)

    def _run(self) -> None:
        schedule: dict[str, Due] = {}
        # A few checks at once: one slow check (its timeout) must not delay every other.
        with ThreadPoolExecutor(self.workers, thread_name_prefix="healthcheck") as pool:
            while not self._stop.is_set():
                due = next_due(schedule, self._running(), time.monotonic())
                list(pool.map(self._check, due))
                self.checks_run += len(due)
                self._stop.wait(self.poll_s)
