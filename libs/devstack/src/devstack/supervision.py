"""What the native runner's supervisor decides and shows, without processes or I/O.

The backoff after an unexpected exit, a process's status as the control API serves it, and
that status as Prometheus text and as a table for ``python -m devstack ctl status``.
"""

import signal
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class State(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    """SIGSTOPped: alive, its port and connections held, answering nothing."""
    BACKOFF = "backoff"
    """Exited unexpectedly; restarted when its backoff has passed."""
    STARTING = "starting"
    """A (re)start in progress (a server waits until it answers)."""
    STOPPED = "stopped"
    """Stopped on purpose (``ctl stop``, the runner shutting down): down until ``start``."""


ACTIONS = ("kill", "pause", "resume", "restart", "stop", "start")
"""What ``POST /processes/{name}/{action}`` and ``ctl ACTION NAME`` accept."""


@dataclass(frozen=True)
class Backoff:
    """0.5 s, 1 s, 2 s ... up to 30 s between restarts of a process that keeps exiting; after
    it has stayed up ``stable_s`` it is healthy again and its next exit waits ``initial_s``."""

    initial_s: float = 0.5
    factor: float = 2.0
    max_s: float = 30.0
    stable_s: float = 10.0

    def delay_s(self, failures: int) -> float:
        """The wait before the restart that follows the ``failures``-th exit in a row (1...)."""
        return min(self.max_s, self.initial_s * self.factor ** max(0, failures - 1))


@dataclass(frozen=True)
class ProcessStatus:
    name: str
    kind: str
    """``service`` (one of devstack.topology's processes) or ``server`` (postgres, redis...)."""
    state: State
    pid: int | None
    port: int
    restarts: int
    """Starts after the first one: the supervisor's and requested ones (``ctl restart``)."""
    last_exit: int | None
    """The last exit status: negative for a signal (-9: SIGKILL), as Python reports it."""
    uptime_s: float | None
    restart_in_s: float | None
    """In backoff, the seconds until the next start."""
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"state": str(self.state)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ProcessStatus":
        return cls(**(data | {"state": State(data["state"])}))


def describe_exit(code: int | None) -> str:
    if code is None:
        return "-"
    if code < 0:
        try:
            return f"{signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.1f}s"
    return f"{value / 60:.0f}m" if value < 7200 else f"{value / 3600:.1f}h"


def render_table(statuses: list[ProcessStatus]) -> str:
    """What ``ctl status`` prints: one line per process, the notes below."""
    header = ("NAME", "KIND", "STATE", "PID", "PORT", "RESTARTS", "LAST EXIT", "UPTIME")
    rows = [header]
    for status in statuses:
        state = str(status.state)
        if status.state is State.BACKOFF and status.restart_in_s is not None:
            state = f"backoff ({status.restart_in_s:.1f}s)"
        rows.append((
            status.name, status.kind, state, str(status.pid or "-"), str(status.port),
            str(status.restarts), describe_exit(status.last_exit), _seconds(status.uptime_s),
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
             for row in rows]  # fmt: skip
    notes = [f"  {status.name}: {status.note}" for status in statuses if status.note]
    if notes:
        lines += ["", "notes:", *notes]
    return "\n".join(line.rstrip() for line in lines)


def render_metrics(statuses: list[ProcessStatus]) -> str:
    """Prometheus text exposition of the runner's processes (``GET /metrics``)."""
    families: list[tuple[str, str, str, Any]] = [
        ("devstack_process_up", "gauge",
         "1 while the process runs and is not paused", lambda s: int(s.state is State.RUNNING)),
        ("devstack_process_paused", "gauge",
         "1 while the process is SIGSTOPped", lambda s: int(s.state is State.PAUSED)),
        ("devstack_process_restarts_total", "counter",
         "Starts of the process after its first", lambda s: s.restarts),
        ("devstack_process_uptime_seconds", "gauge",
         "Seconds since the process last started (0 when down)",
         lambda s: round(s.uptime_s or 0.0, 3)),
    ]  # fmt: skip
    lines: list[str] = []
    for metric, kind, help_text, value in families:
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} {kind}"]
        for status in statuses:
            labels = f'process="{status.name}",kind="{status.kind}"'
            lines.append(f"{metric}{{{labels}}} {value(status)}")
    return "\n".join(lines) + "\n"
