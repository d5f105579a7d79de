"""The native runner's supervisor: a process that exits unexpectedly is started again.

One thread polls every target (a service or a local server) ten times a second. An exit
nobody asked for puts the target in backoff (:class:`devstack.supervision.Backoff`); when it
has passed, a worker thread starts it again, so a server that takes seconds to answer holds up
nobody else. ``stop`` holds a target down until ``start``; ``pause`` is SIGSTOP, which the
supervisor never mistakes for an exit (the process is alive, only not scheduled).

Every exit and restart is said (stdout by default): watching the stack heal is the point.
"""

import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from devstack.processes import LocalProcess, StartupError
from devstack.supervision import ACTIONS, Backoff, ProcessStatus, State, describe_exit

POLL_S = 0.1


class UnknownProcess(KeyError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(name)
        self.name = name
        self.known = known

    def __str__(self) -> str:
        return f"no process named {self.name!r}; the processes are: {', '.join(self.known)}"


class UnknownAction(ValueError):
    def __init__(self, action: str) -> None:
        super().__init__(f"unknown action {action!r}; the actions are: {', '.join(ACTIONS)}")


class NotRunning(RuntimeError):
    """The action needs a live process (pause, kill) and there is none now."""


@dataclass
class Target:
    """One supervised process and how to start and stop it."""

    name: str
    kind: str
    port: int
    start: Callable[[], None]
    """Start it (again); a server also waits until it answers. Raises on failure."""
    current: Callable[[], LocalProcess | None]
    """The process now (a start replaces it)."""
    stop: Callable[[], None]
    """Graceful: the process's stop signal, SIGKILL after its timeout."""
    note: str = ""
    wanted: bool = True
    starting: bool = False
    failures: int = 0
    restarts: int = 0
    started_at: float | None = None
    restart_at: float | None = None
    last_exit: int | None = None
    noticed: int | None = None
    """The pid whose exit was already counted (one exit, one backoff)."""


@dataclass
class Supervisor:
    backoff: Backoff = field(default_factory=Backoff)
    say: Callable[[str], None] = field(default=lambda line: print(line, flush=True))
    targets: dict[str, Target] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _closed: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=4, thread_name_prefix="restart")
    )

    # -- set-up and shutdown ----------------------------------------------------------------

    def add(self, target: Target) -> None:
        with self._lock:
            process = target.current()
            if process is not None and process.alive:
                target.started_at = time.monotonic()
            self.targets[target.name] = target

    def start(self) -> "Supervisor":
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop supervising (nothing is restarted after this); the processes keep running, for
        their owner to stop in order. A start in progress is waited for."""
        with self._lock:
            for target in self.targets.values():
                target.wanted = False
        self._closed.set()
        if self._thread is not None:
            self._thread.join()
        self._pool.shutdown(wait=True)
        for target in self.targets.values():
            process = target.current()
            if process is not None and process.paused:
                process.resume()  # stopped later by its owner, which SIGCONT alone would not do

    def hold(self, names: list[str]) -> None:
        """Keep these down whatever happens to them (their owner is about to stop them)."""
        with self._lock:
            for name in names:
                if name in self.targets:
                    self.targets[name].wanted = False
                    self.targets[name].restart_at = None

    def release(self, names: list[str]) -> None:
        """Supervise these again, as they are now (their owner has just started them)."""
        with self._lock:
            for name in names:
                if (target := self.targets.get(name)) is not None:
                    target.wanted = True
                    target.restart_at = None
                    target.started_at = time.monotonic()

    # -- status -----------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return list(self.targets)

    def target(self, name: str) -> Target:
        try:
            return self.targets[name]
        except KeyError:
            raise UnknownProcess(name, self.names) from None

    def status(self, name: str | None = None) -> list[ProcessStatus]:
        now = time.monotonic()
        with self._lock:
            chosen = [self.target(name)] if name is not None else list(self.targets.values())
            return [self._status(target, now) for target in chosen]

    def _status(self, target: Target, now: float) -> ProcessStatus:
        process = target.current()
        alive = process is not None and process.alive
        if target.starting:
            state = State.STARTING
        elif alive and process is not None and process.paused:
            state = State.PAUSED
        elif alive:
            state = State.RUNNING
        elif target.wanted:
            state = State.BACKOFF
        else:
            state = State.STOPPED
        restart_in = None
        if state is State.BACKOFF and target.restart_at is not None:
            restart_in = max(0.0, target.restart_at - now)
        started = process.started_at if process is not None else None
        uptime = now - started if alive and started is not None else None
        last_exit = target.last_exit
        if not alive and process is not None and process.returncode is not None:
            last_exit = process.returncode
        return ProcessStatus(
            name=target.name, kind=target.kind, state=state,
            pid=process.pid if alive and process is not None else None, port=target.port,
            restarts=target.restarts, last_exit=last_exit, uptime_s=uptime,
            restart_in_s=restart_in, note=target.note,
        )  # fmt: skip

    # -- actions ----------------------------------------------------------------------------

    def act(self, name: str, action: str) -> str:
        """Do ``action`` to ``name``; a sentence saying what was done."""
        if action not in ACTIONS:
            raise UnknownAction(action)
        target = self.target(name)
        handler: Callable[[Target], str] = getattr(self, f"_{action}")
        return handler(target)

    def _live(self, target: Target, action: str) -> LocalProcess:
        process = target.current()
        if process is None or not process.alive:
            state = self._status(target, time.monotonic()).state
            raise NotRunning(f"cannot {action} {target.name}: it is not running ({state})")
        return process

    def _kill(self, target: Target) -> str:
        process = self._live(target, "kill")
        process.signal_group(signal.SIGKILL)
        delay = self.backoff.delay_s(target.failures + 1)
        if not target.wanted:
            return f"killed {target.name} (pid {process.pid}); stopped: not restarted"
        return f"killed {target.name} (pid {process.pid}); restarted after {delay:g}s backoff"

    def _pause(self, target: Target) -> str:
        process = self._live(target, "pause")
        process.pause()
        return f"paused {target.name} (pid {process.pid}, SIGSTOP): `resume` continues it"

    def _resume(self, target: Target) -> str:
        process = self._live(target, "resume")
        was_paused = process.paused
        process.resume()
        if not was_paused:
            return f"{target.name} was not paused (pid {process.pid})"
        return f"resumed {target.name} (pid {process.pid}, SIGCONT)"

    def _stop(self, target: Target) -> str:
        with self._lock:
            target.wanted = False
            target.restart_at = None
        process = target.current()
        if process is None or not process.alive:
            return f"{target.name} was not running; it stays down until `start`"
        target.stop()
        return f"stopped {target.name}; it stays down until `start`"

    def _start(self, target: Target) -> str:
        with self._lock:
            target.wanted = True
            process = target.current()
            if target.starting or (process is not None and process.alive):
                return f"{target.name} is already running"
            target.restart_at = None
            target.starting = True
        self._pool.submit(self._start_now, target, False)
        return f"starting {target.name}"

    def _restart(self, target: Target) -> str:
        with self._lock:
            if target.starting:
                return f"{target.name} is starting already"
            target.wanted = True
            target.restart_at = None
            target.starting = True
        self._pool.submit(self._start_now, target, True)
        return f"restarting {target.name} (graceful stop, then start)"

    def _start_now(self, target: Target, stop_first: bool) -> None:
        """On a worker thread: (stop and) start ``target``, then note how that went."""
        failure = None
        try:
            if stop_first:
                target.stop()
            target.start()
        except (StartupError, OSError) as exc:
            failure = str(exc).splitlines()[0]
        now = time.monotonic()
        with self._lock:
            target.starting = False
            process = target.current()
            if process is not None and process.alive:
                target.restarts += 1
                target.started_at = now
                target.noticed = None
                self.say(f"supervisor: {target.name} started again (pid {process.pid}, "
                         f"restart {target.restarts})")  # fmt: skip
                if not target.wanted:  # stopped while it was starting
                    threading.Thread(target=target.stop, daemon=True).start()
                return
            # It never came up: one more failure, its exit already counted here.
            target.noticed = process.pid if process is not None else None
            target.last_exit = process.returncode if process is not None else None
            if target.wanted:
                target.failures += 1
                delay = self.backoff.delay_s(target.failures)
                target.restart_at = now + delay
                self.say(f"supervisor: {target.name} failed to start ({failure or 'exited'}); "
                         f"trying again in {delay:g}s")  # fmt: skip

    # -- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._closed.wait(POLL_S):
            with self._lock:
                due = [target for target in self.targets.values() if self._check(target)]
                for target in due:
                    target.starting = True
                    target.restart_at = None
            for target in due:
                self.say(f"supervisor: restarting {target.name}")
                self._pool.submit(self._start_now, target, False)

    def _check(self, target: Target) -> bool:
        """Note what happened to ``target``; true when it is due to be started again."""
        if target.starting:
            return False
        now = time.monotonic()
        process = target.current()
        if process is not None and process.alive:
            if target.started_at is not None and now - target.started_at >= self.backoff.stable_s:
                target.failures = 0
            return False
        if not target.wanted:
            return False
        pid = process.pid if process is not None else None
        if target.restart_at is None and (pid is None or pid != target.noticed):
            target.noticed = pid
            target.last_exit = process.returncode if process is not None else None
            target.failures += 1
            delay = self.backoff.delay_s(target.failures)
            target.restart_at = now + delay
            uptime = f" after {now - target.started_at:.1f}s" if target.started_at else ""
            self.say(f"supervisor: {target.name} exited ({describe_exit(target.last_exit)})"
                     f"{uptime}; restarting in {delay:g}s")  # fmt: skip
            return False
        return target.restart_at is not None and now >= target.restart_at
