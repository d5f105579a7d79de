"""Real local servers in a data directory on free ports: Postgres, Redis, Kafka and CQL.

The CQL server is this repository's development server (:mod:`devstack.cql`), not a database:
compose runs Apache Cassandra.
"""

import asyncio
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import asyncpg

from devstack.binaries import kafka_broker_binary, postgres_bin_dir, redis_server_binary
from devstack.processes import LocalProcess, ensure_port_free, free_port, port_open

# Postgres refuses to run as root; the machines this runs on (CI included) often are root.
SERVER_USER = "rwa-devstack"
STARTUP_TIMEOUT_S = 30.0


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _ensure_server_user() -> str:
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVER_USER,
            ],
            check=True,
            capture_output=True,
        )
    return SERVER_USER


def _open_path_to(path: Path) -> None:
    """Let another user traverse every directory above ``path`` and read the tree below it."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        wanted = mode | stat.S_IXOTH | stat.S_IXGRP
        if mode != wanted:
            parent.chmod(wanted)


def _make_readable(tree: Path) -> None:
    for root, dirs, files in os.walk(tree):
        for name in dirs:
            entry = Path(root, name)
            entry.chmod(entry.stat().st_mode | 0o055)
        for name in files:
            entry = Path(root, name)
            mode = entry.stat().st_mode
            extra = 0o044 | (0o011 if mode & stat.S_IXUSR else 0)
            if mode | extra != mode:
                entry.chmod(mode | extra)


@dataclass
class LocalServer:
    """One server process in ``data_dir`` listening on 127.0.0.1:``port``."""

    name: ClassVar[str]
    restart_note: ClassVar[str] = ""
    """What a restart loses, for the supervisor's status."""
    data_dir: Path
    port: int = field(default_factory=free_port)
    process: LocalProcess | None = None

    def start(self) -> None:
        ensure_port_free(self.port, self.name)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = self._prepare()
        self.process.start()
        self.process.wait_ready(self._ready, timeout_s=STARTUP_TIMEOUT_S)

    def _prepare(self) -> LocalProcess:
        """Set up the data dir; return the (not yet started) server process."""
        raise NotImplementedError

    def _ready(self) -> bool:
        return port_open(self.port)

    def _process(self, argv: list[str], **options: Any) -> LocalProcess:
        return LocalProcess(
            name=self.name, argv=argv, log_path=self.data_dir / f"{self.name}.log", **options
        )

    def stop(self) -> None:
        if self.process:
            self.process.stop()


@dataclass
class PostgresServer(LocalServer):
    name: ClassVar[str] = "postgres"
    restart_note: ClassVar[str] = "data kept in its data dir (crash recovery on restart)"

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _prepare(self) -> LocalProcess:
        bin_dir = postgres_bin_dir()
        user = None
        socket_dir = self.data_dir / "sock"
        socket_dir.mkdir(exist_ok=True)
        if _running_as_root():
            user = _ensure_server_user()
            _open_path_to(bin_dir)
            _make_readable(bin_dir.parent)
            _open_path_to(self.data_dir)
            shutil.chown(self.data_dir, user)
            shutil.chown(socket_dir, user)
        pgdata = self.data_dir / "pgdata"
        if not (pgdata / "PG_VERSION").exists():
            subprocess.run(
                [str(bin_dir / "initdb"), "-D", str(pgdata), "-U", "postgres", "--auth=trust",
                 "-E", "UTF8", "--no-sync", "--no-instructions"],
                check=True, capture_output=True, user=user,
            )  # fmt: skip
        return self._process(
            [
                str(bin_dir / "postgres"), "-D", str(pgdata), "-p", str(self.port),
                "-k", str(socket_dir), "-c", "listen_addresses=127.0.0.1",
                "-c", "max_connections=300", "-c", "fsync=off",
                "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            ],
            user=user,
            # SIGINT is Postgres' "fast" shutdown; SIGTERM would wait for clients to leave.
            stop_signal=signal.SIGINT,
        )  # fmt: skip

    def _ready(self) -> bool:
        async def probe() -> bool:
            try:
                conn = await asyncpg.connect(self.admin_url, timeout=1)
            except (OSError, asyncpg.PostgresError):
                return False
            await conn.close()
            return True

        return port_open(self.port) and asyncio.run(probe())

    def create_databases(self, names: list[str]) -> None:
        async def create() -> None:
            conn = await asyncpg.connect(self.admin_url)
            try:
                existing = {row[0] for row in await conn.fetch("SELECT datname FROM pg_database")}
                for name in names:
                    if name not in existing:
                        await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(create())


@dataclass
class RedisServer(LocalServer):
    name: ClassVar[str] = "redis"
    # No RDB or AOF: what the stack keeps in Redis (caches, presence, locations) it rebuilds.
    restart_note: ClassVar[str] = "in memory (no persistence): a restart empties it"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _prepare(self) -> LocalProcess:
        return self._process(
            [
                str(redis_server_binary()), "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.data_dir),
                "--protected-mode", "no",
            ]
        )  # fmt: skip


@dataclass
class KafkaServer(LocalServer):
    """The Tansu broker: Kafka wire-compatible, memory storage (a restart empties it)."""

    name: ClassVar[str] = "kafka"
    restart_note: ClassVar[str] = (
        "Tansu with memory storage: a restart empties it (topics, offsets, groups)"
    )

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _prepare(self) -> LocalProcess:
        address = f"tcp://127.0.0.1:{self.port}"
        return self._process(
            [
                str(kafka_broker_binary()), "broker", "--listener-url", address,
                "--advertised-listener-url", address, "--storage-engine", "memory://tansu/",
            ]
        )  # fmt: skip


@dataclass
class CqlServer(LocalServer):
    """The in-memory CQL development server (:mod:`devstack.cql`), as a child process."""

    name: ClassVar[str] = "cql"
    restart_note: ClassVar[str] = "in memory (the development server): a restart empties it"

    @property
    def contact_point(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _prepare(self) -> LocalProcess:
        return self._process(
            [sys.executable, "-m", "devstack.cql", "--host", "127.0.0.1", "--port", str(self.port)]
        )


# One database per service that owns Postgres data; compose creates the same list
# (infra/postgres/init-databases.sql, checked by the contract tests).
SERVICE_DATABASES = ["dispatch", "chat", "payments", "edge"]


@dataclass
class LocalServers:
    """Every backing server of the stack, started together and removed together."""

    root: Path
    postgres: PostgresServer
    redis: RedisServer
    kafka: KafkaServer
    cql: CqlServer
    redis_b: RedisServer
    """A second Redis: the catalog's other cache zone."""
    owns_root: bool = True

    @classmethod
    def create(cls, root: Path | None = None) -> "LocalServers":
        owns_root = root is None
        base = Path(tempfile.mkdtemp(prefix="rwa-devstack-")) if root is None else root
        return cls(
            root=base,
            postgres=PostgresServer(base / "postgres"),
            redis=RedisServer(base / "redis"),
            kafka=KafkaServer(base / "kafka"),
            cql=CqlServer(base / "cql"),
            redis_b=RedisServer(base / "redis-b"),
            owns_root=owns_root,
        )

    def by_name(self) -> dict[str, LocalServer]:
        """Each server by the name the supervisor and ``ctl`` know it by."""
        return {"postgres": self.postgres, "redis": self.redis, "redis-b": self.redis_b,
                "kafka": self.kafka, "cql": self.cql}  # fmt: skip

    def start(self) -> None:
        try:
            self.kafka.start()
            self.cql.start()
            self.redis.start()
            self.redis_b.start()
            self.postgres.start()
            self.postgres.create_databases(SERVICE_DATABASES)
        except BaseException:
            self.stop()
            raise

    def stop(self, *, keep_logs: bool = False) -> None:
        """Stop every server; a directory this object made is removed, but for ``logs/`` when
        ``keep_logs`` (what a crashed process said is worth more than the disk it takes)."""
        for server in (self.postgres, self.redis, self.redis_b, self.kafka, self.cql):
            server.stop()
        if not self.owns_root:
            return
        if not keep_logs:
            shutil.rmtree(self.root, ignore_errors=True)
            return
        for entry in self.root.iterdir():
            if entry.name == "logs":
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)

    def __enter__(self) -> "LocalServers":
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
