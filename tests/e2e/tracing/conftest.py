"""A whole native stack exporting every span to a test OTLP receiver, for the one-trace tests.

Its own local servers (Postgres, both Redis zones, Kafka, CQL): a second stack on the session's
servers would join the session stack's consumer groups and relay its outbox rows. Started once
for the package, the first time a test asks for it.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.servers import LocalServers
from devstack.stack import NativeStack, start_native_stack
from devstack.topology import PROCESSES
from tests.tracing.otlp_receiver import OtlpReceiver, running_receiver

pytestmark = pytest.mark.e2e


def traced_environment(receiver: OtlpReceiver) -> dict[str, str]:
    """What every process of the traced stack gets: every span exported, within 200 ms."""
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }


@pytest.fixture(scope="package")
def trace_receiver() -> Iterator[OtlpReceiver]:
    with running_receiver() as receiver:
        yield receiver


@pytest.fixture(scope="package")
def traced_stack(devstack_root: Path, trace_receiver: OtlpReceiver) -> Iterator[NativeStack]:
    servers = LocalServers.create(devstack_root / "traced")
    servers.start()
    try:
        env = traced_environment(trace_receiver)
        fast = {"DISPATCH_OFFER_TIMEOUT_S": "2", "DISPATCH_SURGE_RECOMPUTE_S": "0"}
        overrides = {spec.name: dict(env) for spec in PROCESSES}
        for name in ("dispatch", "dispatch-2"):
            overrides[name].update(fast)
        stack = start_native_stack(servers, overrides=overrides)
        try:
            yield stack
        finally:
            stack.stop()
    finally:
        servers.stop()


@pytest.fixture
def spans(trace_receiver: OtlpReceiver, traced_stack: NativeStack) -> OtlpReceiver:
    """The receiver, emptied of earlier tests' spans, with the traced stack running."""
    trace_receiver.clear()
    return trace_receiver
