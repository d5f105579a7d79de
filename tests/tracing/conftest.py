"""Fixtures for tracing tests: a receiver, and this test process traced (or not) by ``OTEL_*``.

OpenTelemetry lets a process set its tracer provider once; a test that configures tracing
resets that (``opentelemetry.trace``'s private globals, as OpenTelemetry's own tests do) and
:func:`stackkit.tracing.shutdown_tracing` before and after, so each test decides afresh from the
environment it sets and leaves none of it behind.
"""

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.util._once import Once

from stackkit import tracing
from tests.tracing.otlp_receiver import OtlpReceiver, running_receiver

OTEL_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_SERVICE_NAME",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
)


def _forget_tracing() -> None:
    tracing.shutdown_tracing()
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None


@pytest.fixture(scope="session")
def otlp_receiver() -> Iterator[OtlpReceiver]:
    with running_receiver() as receiver:
        yield receiver


@pytest.fixture
def receiver(otlp_receiver: OtlpReceiver) -> OtlpReceiver:
    """The session's receiver, emptied of earlier tests' spans."""
    otlp_receiver.clear()
    return otlp_receiver


@pytest.fixture
def traced(receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpReceiver]:
    """``OTEL_EXPORTER_OTLP_ENDPOINT`` at the receiver; the first ``configure_tracing`` of the
    test (``create_service_app`` calls it) installs tracing."""
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")  # export within the test's wait
    _forget_tracing()
    try:
        yield receiver
    finally:
        _forget_tracing()


@pytest.fixture
def untraced(receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpReceiver]:
    """No ``OTEL_*`` variable at all, as a default process has."""
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    _forget_tracing()
    try:
        yield receiver
    finally:
        _forget_tracing()
