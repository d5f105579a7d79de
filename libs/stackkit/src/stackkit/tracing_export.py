"""What a traced process hands its exporter (imported only when spans are exported)."""

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanKind

_DB_SYSTEM = ("db.system", "db.system.name")
"""The attribute (old and stable semantic conventions) every database instrumentation sets."""


class SkipLoneQueries(SpanProcessor):
    """Passes every ended span to ``processor`` except a database call made outside any span.

    Such a query is bookkeeping (a periodic sweep, a pool's connection reset, a heartbeat):
    several a second per process, and as traces of one span each they would bury the requests
    users come to see. Only database calls: a client span of HTTP may have carried its context
    to a server whose spans would then lose their parent. Dropped when it ends, because the
    Redis and Cassandra instrumentations name their system after starting the span."""

    def __init__(self, processor: SpanProcessor) -> None:
        self._processor = processor

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self._processor.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if span.parent is None and span.kind is SpanKind.CLIENT:
            attributes = span.attributes or {}
            if any(name in attributes for name in _DB_SYSTEM):
                return
        self._processor.on_end(span)

    def shutdown(self) -> None:
        self._processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._processor.force_flush(timeout_millis)
