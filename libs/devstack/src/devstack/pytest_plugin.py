"""Session-scoped fixtures for real local servers and the native stack.

Each server starts the first time a test asks for it, in its own temporary directory on a free
port, and is stopped and removed at the end of the session, also when tests fail.
"""

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.servers import (
    SERVICE_DATABASES,
    KafkaServer,
    LocalServers,
    PostgresServer,
    RedisServer,
)
from devstack.stack import NativeStack, start_native_stack


@pytest.fixture(scope="session")
def devstack_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="rwa-test-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server(devstack_root: Path) -> Iterator[PostgresServer]:
    server = PostgresServer(devstack_root / "postgres")
    try:
        server.start()
        server.create_databases(SERVICE_DATABASES)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server(devstack_root: Path) -> Iterator[RedisServer]:
    server = RedisServer(devstack_root / "redis")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def kafka_server(devstack_root: Path) -> Iterator[KafkaServer]:
    server = KafkaServer(devstack_root / "kafka")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def local_servers(
    devstack_root: Path,
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    kafka_server: KafkaServer,
) -> LocalServers:
    return LocalServers(
        root=devstack_root,
        postgres=postgres_server,
        redis=redis_server,
        kafka=kafka_server,
        owns_root=False,
    )


@pytest.fixture(scope="session")
def native_stack(local_servers: LocalServers) -> Iterator[NativeStack]:
    stack = start_native_stack(local_servers)
    try:
        yield stack
    finally:
        stack.stop()
