"""Fixtures shared across packages' tests (the devstack plugin provides the servers)."""

from collections.abc import Iterator

import pytest

from devstack.servers import LocalServers
from devstack.stack import NativeStack

ORIGINS = ("catalog", "dispatch", "chat", "acquirer-a", "acquirer-b", "payments")
"""Every FastAPI origin of the stack, one instance each: no edge, gateways or workers."""


@pytest.fixture(scope="session")
def origins(local_servers: LocalServers) -> Iterator[NativeStack]:
    """The services' own apps as processes on the local servers, reached directly: what a test
    of one app's HTTP contract needs, in a third of the native stack's start-up time."""
    stack = NativeStack.create(local_servers)
    stack.start(ORIGINS)
    try:
        yield stack
    finally:
        stack.stop()
