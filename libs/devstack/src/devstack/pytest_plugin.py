"""Session-scoped fixtures for real local servers and the native stack.

Each server starts the first time a test asks for it, in its own temporary directory on a free
port, and is stopped and removed at the end of the session, also when tests fail.
"""

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from devstack.servers import (
    SERVICE_DATABASES,
    CqlServer,
    KafkaServer,
    LocalServer,
    LocalServers,
    PostgresServer,
    RedisServer,
)
from devstack.stack import NativeStack, start_native_stack

ServerT = TypeVar("ServerT", bound=LocalServer)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    """A terminated test run (a CI timeout, ``kill``, a killed ``make``) tears its servers and
    stack down as Ctrl-C does, instead of leaving them running under init."""
    signal.signal(signal.SIGTERM, _interrupt)


@pytest.fixture(scope="session")
def devstack_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="rwa-test-"))
    yield root
    if not os.environ.get("DEVSTACK_KEEP"):
        shutil.rmtree(root, ignore_errors=True)


def _serve(server: ServerT) -> Iterator[ServerT]:
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server(devstack_root: Path) -> Iterator[PostgresServer]:
    for server in _serve(PostgresServer(devstack_root / "postgres")):
        server.create_databases(SERVICE_DATABASES)
        yield server


@pytest.fixture(scope="session")
def redis_server(devstack_root: Path) -> Iterator[RedisServer]:
    yield from _serve(RedisServer(devstack_root / "redis"))


@pytest.fixture(scope="session")
def kafka_server(devstack_root: Path) -> Iterator[KafkaServer]:
    yield from _serve(KafkaServer(devstack_root / "kafka"))


@pytest.fixture(scope="session")
def redis_b_server(devstack_root: Path) -> Iterator[RedisServer]:
    yield from _serve(RedisServer(devstack_root / "redis-b"))


@pytest.fixture(scope="session")
def cql_server(devstack_root: Path) -> Iterator[CqlServer]:
    yield from _serve(CqlServer(devstack_root / "cql"))


@pytest.fixture(scope="session")
def local_servers(
    devstack_root: Path,
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    kafka_server: KafkaServer,
    cql_server: CqlServer,
    redis_b_server: RedisServer,
) -> LocalServers:
    return LocalServers(
        root=devstack_root,
        postgres=postgres_server,
        redis=redis_server,
        kafka=kafka_server,
        cql=cql_server,
        redis_b=redis_b_server,
        owns_root=False,
    )


@pytest.fixture(scope="session")
def native_stack(local_servers: LocalServers) -> Iterator[NativeStack]:
    # Short offer timeouts and live surge, so tests watch both change without waiting.
    fast = {"DISPATCH_OFFER_TIMEOUT_S": "2", "DISPATCH_SURGE_RECOMPUTE_S": "0"}
    # Heartbeats every 2 s: a silent client turns away within seconds.
    beat = {"CHAT_HEARTBEAT_S": "2"}
    overrides = {"dispatch": fast, "dispatch-2": fast, "chat-gateway": beat, "chat-gateway-2": beat}
    stack = start_native_stack(local_servers, overrides=overrides)
    try:
        yield stack
    finally:
        stack.stop()
