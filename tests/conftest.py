"""Fixtures shared across packages' tests (the devstack plugin provides the servers)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.servers import LocalServers
from devstack.stack import NativeStack

ORIGINS = ("catalog", "dispatch", "chat", "acquirer-a", "acquirer-b", "payments")
"""Every FastAPI origin of the stack, one instance each: no edge, gateways or workers."""


@pytest.fixture(scope="session")
def origins(devstack_root: Path) -> Iterator[NativeStack]:
    """The services' own apps as processes, reached directly, on servers of their own: what a
    test of one app's HTTP contract needs. Their own servers, because fuzzing shares nothing
    with the native stack's tests: a generated driver would change their nearest drivers, a
    second chat or payments relay would publish their outbox rows to another Kafka, and a second
    ``dispatch`` would take over the worker id in area ownership."""
    servers = LocalServers.create(devstack_root / "origins")
    servers.start()
    stack = NativeStack.create(servers)
    try:
        stack.start(ORIGINS)
        yield stack
    finally:
        stack.stop()
        servers.stop()
