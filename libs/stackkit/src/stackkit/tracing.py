"""Distributed tracing with OpenTelemetry, configured only by the standard ``OTEL_*`` variables.

Every process calls :func:`configure_tracing` once (FastAPI services through
``create_service_app``; the chat gateways and the edge's anycast entry themselves). With an OTLP
endpoint (``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) it installs
the SDK (OTLP/HTTP protobuf, a batch processor, the sampler of ``OTEL_TRACES_SAMPLER`` and
``_ARG``, the name of ``OTEL_SERVICE_NAME`` or the process's own) and the official
instrumentations of the libraries present: FastAPI (per app, :func:`instrument_app`), httpx,
asyncpg, redis, the aiohttp client, the cassandra driver. Without one, or with
``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``, nothing is installed and every
helper here is one check of a module flag.

Bookkeeping stays out of the traces: probes and scrapes get no server span, readiness checks
and the outbox relay's sweeps run under :func:`quiet`, and a database call made outside any
span is not exported (``stackkit.tracing_export``). A hop no instrumentation covers opens its
own span: :func:`server_span` (the PoP, the chat gateways), :func:`span` (a relayed row, a batch
linked to its messages' traces), and stores or forwards :func:`current_traceparent`.

Kafka has no instrumentation here: :class:`stackkit.kafka.EventProducer` and
:class:`stackkit.consumer.EventConsumer` open their own spans (the official aiokafka one
appends a second ``traceparent`` to headers that already carry one, and opens a new root trace
per poll rather than a span around the handler).
"""

import contextlib
import importlib.util
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

Attributes = Mapping[str, AttributeValue]
RecordHeaders = list[tuple[str, bytes]]
"""Kafka record headers as aiokafka takes and gives them."""

QUIET_URLS = r"/(healthz|readyz|metrics|flags)(\?|$)"
"""Probes and scrapes: several a second per process, nothing to see in a trace."""

_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_TRACEPARENT = TraceContextTextMapPropagator()

log = structlog.stdlib.get_logger(__name__)


@dataclass(frozen=True)
class TracingPlan:
    """What the environment asks of this process: pure, so that it is tested without an SDK."""

    exports: bool
    service_name: str
    why: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], default_name: str) -> "TracingPlan":
        name = environ.get("OTEL_SERVICE_NAME", "").strip() or default_name
        if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            return cls(False, name, "OTEL_SDK_DISABLED=true")
        if environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
            return cls(False, name, "OTEL_TRACES_EXPORTER=none")
        endpoint = next((environ[v] for v in _ENDPOINT_VARIABLES if environ.get(v)), "")
        if not endpoint.strip():
            return cls(False, name, "no OTLP endpoint")
        return cls(True, name, f"exporting to {endpoint.strip()}")


@dataclass
class _State:
    plan: TracingPlan | None = None
    """Set by the first :func:`configure_tracing` of the process."""
    tracer: Tracer | None = None
    """Set only while spans are exported: the one flag every hot path checks."""
    provider: Any = None
    instrumentors: tuple[Any, ...] = ()


_state = _State()
_NO_SPAN: AbstractContextManager[Span] = contextlib.nullcontext(trace.INVALID_SPAN)
_NOTHING: AbstractContextManager[object] = contextlib.nullcontext()


def configure_tracing(service_name: str) -> bool:
    """Set up tracing for this process from ``OTEL_*``; returns whether spans are exported.

    Only the first call of a process decides (a provider cannot be replaced once spans were
    made with it); later calls return the same answer. ``service_name`` is the name when
    ``OTEL_SERVICE_NAME`` gives none."""
    if _state.plan is not None:
        return _state.tracer is not None
    plan = TracingPlan.from_environ(os.environ, service_name)
    _state.plan = plan
    if plan.exports:
        _install(plan)
        log.info("tracing", service=plan.service_name, exporting=True, why=plan.why)
    return plan.exports


def _install(plan: TracingPlan) -> None:
    # Imported here: a process that does not trace never loads the SDK or the exporter.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from stackkit.tracing_export import SkipLoneQueries

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: plan.service_name}))
    provider.add_span_processor(SkipLoneQueries(BatchSpanProcessor(OTLPSpanExporter())))
    trace.set_tracer_provider(provider)
    _state.provider = provider
    _state.tracer = provider.get_tracer("stackkit")
    _state.instrumentors = tuple(_instrument_libraries())
    for instrumentor in _state.instrumentors:
        instrumentor.instrument()


def _instrument_libraries() -> Iterator[Any]:
    """The official instrumentation of each library this process has installed."""
    if importlib.util.find_spec("httpx"):
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        yield HTTPXClientInstrumentor()
    if importlib.util.find_spec("asyncpg"):
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

        yield AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
    if importlib.util.find_spec("redis"):
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        yield RedisInstrumentor()
    if importlib.util.find_spec("aiohttp"):
        from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor

        yield AioHttpClientInstrumentor()
    if importlib.util.find_spec("cassandra"):
        from opentelemetry.instrumentation.cassandra import CassandraInstrumentor

        yield CassandraInstrumentor()


def shutdown_tracing() -> None:
    """Export what is buffered, remove the instrumentations, and forget the configuration, so
    that a test can configure another (processes leave this to the SDK's exit hook)."""
    for instrumentor in _state.instrumentors:
        instrumentor.uninstrument()
    if _state.provider is not None:
        _state.provider.shutdown()
    _state.plan, _state.tracer, _state.provider, _state.instrumentors = None, None, None, ()


def force_flush(timeout_ms: int = 5000) -> bool:
    """Export every finished span now (tests, and a process about to be killed)."""
    return bool(_state.provider.force_flush(timeout_ms)) if _state.provider else True


def exporting() -> bool:
    return _state.tracer is not None


def instrument_app(app: Any) -> None:
    """A FastAPI app's server spans (named by route template, probes and scrapes left out);
    nothing when not exporting. Call before the app serves its first request."""
    if _state.tracer is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    env_says = any(os.environ.get(f"OTEL_PYTHON_{k}EXCLUDED_URLS") for k in ("FASTAPI_", ""))
    FastAPIInstrumentor.instrument_app(
        app,
        excluded_urls=None if env_says else QUIET_URLS,
        # The ASGI send/receive events as spans of their own: two or more per request, noise.
        exclude_spans=["receive", "send"],
    )


# --- spans of our own, for the hops no instrumentation covers ---------------------------------


def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: str | None = None,
    links: Iterable[str | None] = (),
    attributes: Attributes | None = None,
) -> AbstractContextManager[Span]:
    """A span made current for the ``with`` block; ``parent`` is a ``traceparent`` to continue
    (what :func:`current_traceparent` stored), else the current span is the parent. ``links``
    are ``traceparent``s of related traces (a batch of many messages' work)."""
    tracer = _state.tracer
    if tracer is None:
        return _NO_SPAN
    context = _TRACEPARENT.extract({"traceparent": parent}) if parent else None
    linked = [Link(ctx) for tp in links if tp and (ctx := _span_context(tp)) is not None]
    return tracer.start_as_current_span(
        name, context=context, kind=kind, links=linked, attributes=attributes
    )


def server_span(
    name: str,
    headers: Iterable[tuple[bytes, bytes]] | Mapping[str, str],
    *,
    attributes: Attributes | None = None,
) -> AbstractContextManager[Span]:
    """A SERVER span continuing the caller's W3C context: ``headers`` are an ASGI scope's
    (``scope["headers"]``) or any mapping with lower-case names (a websockets request's)."""
    tracer = _state.tracer
    if tracer is None:
        return _NO_SPAN
    carrier = headers if isinstance(headers, Mapping) else _asgi_trace_headers(headers)
    # No trace headers (most requests, every benchmark one): a new root, as extract would
    # give, without running the propagators over nothing.
    parent = propagate.extract(carrier) if carrier else Context()
    return _CurrentSpan(tracer.start_span(name, parent, SpanKind.SERVER, attributes))


class _CurrentSpan(AbstractContextManager[Span]):
    """``start_as_current_span``'s behaviour (current for the block, ended after it, an escaping
    exception recorded) without its two nested generator context managers: per request on the
    PoP's hot path they cost more than an unsampled span itself."""

    __slots__ = ("_span", "_token")

    def __init__(self, span: Span) -> None:
        self._span = span

    def __enter__(self) -> Span:
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return self._span

    def __exit__(self, _kind: Any, exc: BaseException | None, _tb: Any) -> None:
        try:
            # As use_span: an Exception, not a BaseException (a cancellation is no error).
            if isinstance(exc, Exception) and self._span.is_recording():
                self._span.record_exception(exc)
                self._span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        finally:
            otel_context.detach(self._token)
            self._span.end()


def _asgi_trace_headers(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    wanted = (b"traceparent", b"tracestate", b"baggage")
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in headers if k in wanted}


def _span_context(traceparent: str) -> trace.SpanContext | None:
    found = trace.get_current_span(_TRACEPARENT.extract({"traceparent": traceparent}))
    span_context = found.get_span_context()
    return span_context if span_context.is_valid else None


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, to store with work done later (an outbox
    row, a message handed to another process); ``None`` when not tracing."""
    if _state.tracer is None:
        return None
    carrier: dict[str, str] = {}
    _TRACEPARENT.inject(carrier)
    return carrier.get("traceparent")


def inject_http_headers(headers: dict[str, str]) -> dict[str, str]:
    """Adds the current context to a request's headers (for a client no instrumentation
    covers; httpx and aiohttp are covered)."""
    if _state.tracer is not None:
        propagate.inject(headers)
    return headers


def quiet() -> AbstractContextManager[object]:
    """No instrumentation spans in the block: for bookkeeping loops (an outbox relay's sweeps,
    health probes, heartbeats), a trace of one query each, several a second per process, would
    bury the requests users come to see. Spans of our own (:func:`span`, the Kafka ones) are
    still made, but no instrumented call inside the block is, even within them."""
    if _state.tracer is None:
        return _NOTHING
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    return suppress_instrumentation()


def set_attribute(key: str, value: AttributeValue) -> None:
    """On the current span, when one is recording."""
    if _state.tracer is not None:
        current = trace.get_current_span()
        if current.is_recording():
            current.set_attribute(key, value)


# --- Kafka: context in record headers ----------------------------------------------------------


class _RecordHeaders(Getter[RecordHeaders], Setter[RecordHeaders]):
    def get(self, carrier: RecordHeaders, key: str) -> list[str] | None:
        values = [value.decode("latin-1") for name, value in carrier if name == key and value]
        return values or None

    def keys(self, carrier: RecordHeaders) -> list[str]:
        return [name for name, _ in carrier]

    def set(self, carrier: RecordHeaders, key: str, value: str) -> None:
        carrier[:] = [(name, v) for name, v in carrier if name != key]  # one of each, never two
        carrier.append((key, value.encode("latin-1")))


_RECORD_HEADERS = _RecordHeaders()
_NO_HEADERS: AbstractContextManager[RecordHeaders | None] = contextlib.nullcontext(None)


@contextlib.contextmanager
def _producer_span(
    tracer: Tracer, topic: str, headers: RecordHeaders, attributes: Attributes
) -> Iterator[RecordHeaders]:
    with tracer.start_as_current_span(
        f"{topic} publish", kind=SpanKind.PRODUCER, attributes=attributes
    ):
        propagate.inject(headers, setter=_RECORD_HEADERS)
        yield headers


def producer_span(
    topic: str,
    *,
    key: str | bytes | None,
    headers: RecordHeaders | None = None,
    message_id: str | None = None,
    count: int = 1,
) -> AbstractContextManager[RecordHeaders | None]:
    """A PRODUCER span around a send; yields the headers to send (a copy of ``headers`` with
    its ``traceparent``), or ``headers`` themselves when not tracing."""
    tracer = _state.tracer
    if tracer is None:
        return _NO_HEADERS if headers is None else contextlib.nullcontext(headers)
    attributes: dict[str, AttributeValue] = {
        "messaging.system": "kafka",
        "messaging.operation.type": "send",
        "messaging.destination.name": topic,
    }
    if key is not None:
        text = key.decode(errors="replace") if isinstance(key, bytes) else key
        attributes["messaging.kafka.message.key"] = text
    if message_id is not None:
        attributes["messaging.message.id"] = message_id
    if count != 1:
        attributes["messaging.batch.message_count"] = count
    return _producer_span(tracer, topic, list(headers or ()), attributes)


def consumer_span(
    topic: str,
    headers: Sequence[tuple[str, bytes | None]],
    *,
    group: str,
    partition: int,
    offset: int,
) -> AbstractContextManager[Span]:
    """A CONSUMER span around handling one record, continuing the trace its headers carry."""
    tracer = _state.tracer
    if tracer is None:
        return _NO_SPAN
    carrier = [(name, value) for name, value in headers if value is not None]
    context = propagate.extract(carrier, getter=_RECORD_HEADERS)
    attributes: dict[str, AttributeValue] = {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": topic,
        "messaging.consumer.group.name": group,
        "messaging.destination.partition.id": str(partition),
        "messaging.kafka.offset": offset,
    }
    return tracer.start_as_current_span(
        f"{topic} process", context=context, kind=SpanKind.CONSUMER, attributes=attributes
    )


# --- logs --------------------------------------------------------------------------------------


def add_trace_ids(
    _logger: object, _method: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    """structlog processor: ``trace_id`` and ``span_id`` of the current span when it is sampled
    (exported: a trace to find). Not "recording": a server span ends when its response is
    sent, before the request's access line is written, and that line belongs to it too."""
    if _state.tracer is not None:
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid and span_context.trace_flags.sampled:
            event_dict["trace_id"] = format(span_context.trace_id, "032x")
            event_dict["span_id"] = format(span_context.span_id, "016x")
    return event_dict
