"""Starting, waiting on and stopping local processes."""

import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path


class StartupError(RuntimeError):
    """A local process exited or did not become ready in time."""


_handed_out: set[int] = set()  # never the same port twice in one process


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A port free now, chosen below the kernel's ephemeral range: a port the kernel hands out
    can be taken by any outgoing connection before our server binds it (a real flake with
    thousands of test connections); ports below the range are only ever taken on purpose."""
    low, _ = _ephemeral_range()
    candidates = list(range(max(1024, low - 12_000), low))
    random.shuffle(candidates)
    for port in (p for p in candidates if p not in _handed_out):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        fallback: int = sock.getsockname()[1]
        return fallback


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def ensure_port_free(port: int, what: str) -> None:
    """Fail before starting: a server on a taken port would look ready while it is not ours."""
    if port_open(port):
        raise StartupError(f"{what}: port {port} is already in use")


def wait_until(
    condition: Callable[[], bool], *, timeout_s: float, what: str, interval_s: float = 0.05
) -> None:
    """Poll ``condition`` until it is true; raise :class:`StartupError` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise StartupError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(interval_s)


@dataclass
class LocalProcess:
    """One child process whose output goes to a log file."""

    name: str
    argv: list[str]
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    user: str | None = None
    stop_signal: int = signal.SIGTERM
    popen: "subprocess.Popen[bytes] | None" = None
    started_at: float | None = None
    """``time.monotonic()`` when it was started."""

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.started_at = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
                cwd=self.cwd,
                user=self.user,
                # Own process group: Ctrl-C in the runner's terminal reaches only the runner,
                # which then stops children in order.
                start_new_session=True,
            )

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def wait_ready(self, ready: Callable[[], bool], *, timeout_s: float) -> None:
        def check() -> bool:
            if not self.alive:
                raise StartupError(f"{self.name} exited early; last log lines:\n{self.log_tail()}")
            return ready()

        try:
            wait_until(check, timeout_s=timeout_s, what=self.name)
        except StartupError as exc:
            if "exited early" in str(exc):
                raise
            raise StartupError(f"{exc}; last log lines:\n{self.log_tail()}") from None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    @property
    def returncode(self) -> int | None:
        """The exit status once it has exited (negative: the signal that ended it)."""
        return self.popen.poll() if self.popen is not None else None

    @property
    def paused(self) -> bool:
        """SIGSTOPped, as the kernel says (whoever sent the signal)."""
        if not self.alive or self.popen is None:
            return False
        try:
            stat = Path(f"/proc/{self.popen.pid}/stat").read_text()
        except OSError:
            return False
        # "pid (comm) S ...": the command may hold spaces and parentheses, the state follows
        # the last ")".
        return stat.rpartition(")")[2].split()[:1] == ["T"]

    def signal_group(self, signum: int) -> None:
        """Signal the process and everything it started (its own session, see :meth:`start`):
        Postgres' backends stop, resume and die with their postmaster."""
        if self.popen is None or not self.alive:
            return
        try:
            if os.getpgid(self.popen.pid) == self.popen.pid:
                os.killpg(self.popen.pid, signum)
                return
        except ProcessLookupError:
            return
        except PermissionError:
            pass
        self.popen.send_signal(signum)  # not a group of its own: the process alone

    def pause(self) -> None:
        """SIGSTOP: a hung peer whose connections stay open (a partition, as seen by clients)."""
        self.signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal_group(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up (for crash tests)."""
        if self.popen is not None and self.alive:
            self.signal_group(signal.SIGKILL)
            self.popen.wait()

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.popen is None or not self.alive:
            return
        self.popen.send_signal(self.stop_signal)
        # A paused process would hold the signal until the timeout's SIGKILL.
        self.resume()
        try:
            self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
