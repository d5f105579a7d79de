"""The whole stack as local processes against local servers: what `make run` and e2e tests use."""

import os
import secrets
import shutil
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devstack.processes import (
    LocalProcess,
    StartupError,
    ensure_port_free,
    free_port,
    port_open,
    wait_until,
)
from devstack.servers import LocalServer, LocalServers
from devstack.supervision import Backoff
from devstack.supervisor import Supervisor, Target
from devstack.topology import (
    ACQUIRERS,
    CHAT_GATEWAYS,
    EDGE_ORIGINS,
    EDGE_POPS,
    EDGE_ROUTED,
    PROCESSES,
    UPPER_TIER,
    ProcessSpec,
    process,
)

READY_TIMEOUT_S = 120.0
REPO_FLAG_FILE = Path(__file__).resolve().parents[4] / "infra" / "flags" / "flags.flagd.json"


def _is_ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class NativeStack:
    servers: LocalServers
    ports: dict[str, int]
    host: str = "127.0.0.1"
    processes: dict[str, LocalProcess] = field(default_factory=dict)
    overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per process, environment variables that replace the defaults (benchmarks, experiments)."""
    # Random per run: a development secret that is the same everywhere is a published one.
    edge_admin_token: str = field(
        default_factory=lambda: os.environ.get("EDGE_ADMIN_TOKEN") or secrets.token_urlsafe(24)
    )
    """``Authorization: Bearer <this>`` for the edge's config plane (``make run`` prints it;
    ``EDGE_ADMIN_TOKEN`` in the runner's environment picks it)."""
    edge_tier_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    flag_file: Path | None = None
    """The run-time flags every process evaluates (flagd's file format, polled for changes).
    ``make run`` uses the repository's ``infra/flags/flags.flagd.json``, so editing it (or
    ``python -m stackkit.flag_file set``) flips a switch; unset, the stack gets its own copy
    of that file in its directory, so tests flip flags without touching the checkout."""
    supervisor: Supervisor | None = None
    """Set by :meth:`supervise`: processes that exit unexpectedly are started again. Without
    it (the tests' session stack) a killed process stays dead until :meth:`start`."""

    @classmethod
    def create(cls, servers: LocalServers, *, default_ports: bool = False) -> "NativeStack":
        """``default_ports`` uses the documented ports (8080 for the edge); otherwise free ones."""
        ports = {
            spec.name: spec.default_port if default_ports else free_port() for spec in PROCESSES
        }
        return cls(servers=servers, ports=ports)

    @property
    def flags_path(self) -> Path:
        if self.flag_file is None:
            self.flag_file = self.servers.root / "flags" / REPO_FLAG_FILE.name
            self.flag_file.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REPO_FLAG_FILE, self.flag_file)
        return self.flag_file

    def url(self, name: str) -> str:
        return f"http://{self.host}:{self.ports[name]}"

    @property
    def edge_url(self) -> str:
        return self.url("edge")

    @property
    def edge_admin_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.edge_admin_token}"}

    def env_for(self, spec: ProcessSpec) -> dict[str, str]:
        """Topology only: where the servers and the other processes are (URLs, ports), who this
        process is (ids, names), and this run's secrets and directories. Everything else is the
        settings' defaults, which are already the development ones: one copy of each default.
        The names are ones compose sets (the contract tests check both)."""
        prefix = spec.env_prefix
        env: dict[str, str] = {
            "FLAGD_RESOLVER": "file",
            "FLAGD_OFFLINE_FLAG_SOURCE_PATH": str(self.flags_path),
            # Spans say which process made them (dispatch-2, edge-pop-3), not just the service.
            "OTEL_SERVICE_NAME": spec.name,
        }
        if "kafka" in spec.servers:
            env[f"{prefix}KAFKA_BOOTSTRAP_SERVERS"] = self.servers.kafka.bootstrap_servers
        if "redis" in spec.servers:
            env[f"{prefix}REDIS_URL"] = self.servers.redis.url
        if spec.database:
            env[f"{prefix}DATABASE_URL"] = self.servers.postgres.url(spec.database)
        if "cql" in spec.servers:
            env[f"{prefix}CASSANDRA_CONTACT_POINTS"] = self.servers.cql.contact_point
            env[f"{prefix}REDIS_ZONE_B_URL"] = self.servers.redis_b.url
        if spec.name in EDGE_POPS:
            pop_name, region = EDGE_POPS[spec.name]
            env |= {
                f"{prefix}POP_NAME": pop_name,
                f"{prefix}REGION": region,
                f"{prefix}UPPER_TIER_URL": "" if spec.name == UPPER_TIER else self.url(UPPER_TIER),
                f"{prefix}TIER_SECRET": self.edge_tier_secret,
                f"{prefix}ADMIN_TOKEN": self.edge_admin_token,
                f"{prefix}REPLICA_DIR": str(self.servers.root / "edge-replicas" / pop_name),
                f"{prefix}CHAT_GATEWAY_URLS": ",".join(self.url(g) for g in CHAT_GATEWAYS),
            }
            for route, targets in EDGE_ORIGINS.items():
                env[f"{prefix}{route.upper()}_URLS"] = ",".join(self.url(t) for t in targets)
        if spec.env_prefix == "ANYCAST_":
            env[f"{prefix}POPS"] = ",".join(
                f"{pop}@{region}={self.host}:{self.ports[name]}"
                for name, (pop, region) in EDGE_POPS.items()
            )
        if spec.env_prefix == "DISPATCH_":
            env |= {f"{prefix}WORKER_ID": spec.name, f"{prefix}ADVERTISED_URL": self.url(spec.name)}
        if spec.env_prefix == "CHAT_":
            env |= {f"{prefix}GATEWAY_ID": spec.name, f"{prefix}API_URL": self.url("chat")}
        if spec.name in ACQUIRERS:
            env[f"{prefix}NAME"] = spec.name
        if spec.env_prefix == "PAYMENTS_":
            acquirers = ",".join(f"{name}={self.url(name)}" for name in ACQUIRERS)
            env[f"{prefix}ACQUIRERS"] = acquirers
        return env | self.overrides.get(spec.name, {})

    def _process_for(self, spec: ProcessSpec) -> LocalProcess:
        ensure_port_free(self.ports[spec.name], spec.name)
        return LocalProcess(
            name=spec.name,
            argv=_native(spec.command(self.host, self.ports[spec.name])),
            log_path=self.servers.root / "logs" / f"{spec.name}.log",
            env=self.env_for(spec),
        )

    def start(self, names: Iterable[str] | None = None, *, wait: bool = True) -> None:
        """Start the processes (all by default) and, unless ``wait`` is false, wait until ready."""
        specs = [process(name) for name in names] if names is not None else list(PROCESSES)
        chosen = [spec.name for spec in specs]
        if self.supervisor is not None:
            self.supervisor.hold(chosen)  # ours to start now, not the supervisor's too
        try:
            for spec in specs:
                self._start_process(spec)
            if self.supervisor is not None:
                for spec in specs:
                    if spec.name not in self.supervisor.targets:
                        self.supervisor.add(self._service_target(spec))
                self.supervisor.release(chosen)
            if wait:
                with ThreadPoolExecutor(max_workers=len(specs)) as pool:
                    list(pool.map(self.wait_ready, chosen))
        except BaseException:
            self.stop(chosen)
            raise

    def _start_process(self, spec: ProcessSpec) -> None:
        self.processes[spec.name] = self._process_for(spec)
        self.processes[spec.name].start()

    def wait_ready(self, name: str, timeout_s: float = READY_TIMEOUT_S) -> None:
        readyz = f"{self.url(name)}/readyz"
        self.processes[name].wait_ready(lambda: _is_ready(readyz), timeout_s=timeout_s)

    def wait_ready_through_edge(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        for route in EDGE_ROUTED:
            wait_until(
                lambda route=route: _is_ready(f"{self.edge_url}/{route}/readyz"),  # type: ignore[misc]
                timeout_s=timeout_s,
                what=f"/{route}/readyz through the edge",
            )

    def kill(self, name: str) -> None:
        """SIGKILL; supervised, the process is started again after its backoff."""
        self.processes[name].kill()

    def restart(self, name: str) -> None:
        self.stop([name])
        self.start([name])

    def stop(self, names: Iterable[str] | None = None) -> None:
        """Stop the processes (all by default); the edge goes first, being started last.
        Supervised, they stay down until :meth:`start`."""
        chosen = set(self.processes if names is None else names)
        if self.supervisor is not None:
            self.supervisor.hold(sorted(chosen))
        for name in reversed(list(self.processes)):
            if name in chosen:
                self.processes[name].stop()

    def logs_dir(self) -> Path:
        return self.servers.root / "logs"

    def supervise(
        self,
        *,
        servers: Iterable[str] | None = None,
        backoff: Backoff | None = None,
        say: Callable[[str], None] | None = None,
    ) -> Supervisor:
        """Supervise every started process and the named local servers (all by default:
        :meth:`LocalServers.by_name`), from now until :meth:`unsupervise`."""
        supervisor = Supervisor(backoff=backoff or Backoff())
        if say is not None:
            supervisor.say = say
        for name in self.processes:
            supervisor.add(self._service_target(process(name)))
        by_name = self.servers.by_name()
        for name in by_name if servers is None else servers:
            supervisor.add(_server_target(name, by_name[name]))
        self.supervisor = supervisor.start()
        return supervisor

    def unsupervise(self) -> None:
        """Stop supervising: nothing is restarted after this (the runner shutting down)."""
        if self.supervisor is not None:
            self.supervisor.close()
            self.supervisor = None

    def _service_target(self, spec: ProcessSpec) -> Target:
        def stop() -> None:
            if (current := self.processes.get(spec.name)) is not None:
                current.stop()

        return Target(
            name=spec.name, kind="service", port=self.ports[spec.name],
            start=lambda: self._start_process(spec), current=lambda: self.processes.get(spec.name),
            stop=stop,
        )  # fmt: skip


def _server_target(name: str, server: LocalServer) -> Target:
    return Target(
        name=name, kind="server", port=server.port, start=server.start,
        current=lambda: server.process, stop=server.stop, note=server.restart_note,
    )  # fmt: skip


def taken_default_ports() -> list[tuple[str, int]]:
    """The processes whose documented port something already listens on (another stack?)."""
    return [(spec.name, spec.default_port) for spec in PROCESSES if port_open(spec.default_port)]


def _native(command: list[str]) -> list[str]:
    """The same command with this interpreter: ``python -m x`` as is, ``uvicorn`` as a module."""
    if command[0] == "python":
        return [sys.executable, *command[1:]]
    return [sys.executable, "-m", *command]


def start_native_stack(
    servers: LocalServers,
    *,
    default_ports: bool = False,
    overrides: dict[str, dict[str, str]] | None = None,
    flag_file: Path | None = None,
    supervise: bool = False,
) -> NativeStack:
    """Start every process, wait until each is ready through the edge; ``supervise`` then
    supervises them and every local server (:meth:`NativeStack.supervise`)."""
    stack = NativeStack.create(servers, default_ports=default_ports)
    stack.flag_file = flag_file
    stack.overrides = overrides or {}
    stack.start()
    try:
        stack.wait_ready_through_edge()
    except StartupError:
        stack.stop()
        raise
    if supervise:
        stack.supervise()
    return stack
