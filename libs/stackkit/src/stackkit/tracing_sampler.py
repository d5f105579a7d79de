"""The sampler wrapper every traced process uses (imported only when spans are exported)."""

from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, get_current_span
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes


class SkipOrphanClients(Sampler):
    """Drops a client call made outside any span, and asks ``sampler`` (the one
    ``OTEL_TRACES_SAMPLER`` names) about everything else.

    A database, Redis or HTTP call with no span around it is bookkeeping: an outbox relay's
    idle sweep, a heartbeat, an origin health probe. Each process makes several a second, and
    as traces of one span each they would bury the requests users come to see. Work worth a
    trace opens a span of its own first (a server, consumer or job span)."""

    def __init__(self, sampler: Sampler) -> None:
        self._sampler = sampler
        self._dropped = SamplingResult(Decision.DROP)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if (
            kind is SpanKind.CLIENT
            and not get_current_span(parent_context).get_span_context().is_valid
        ):
            return self._dropped
        return self._sampler.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"SkipOrphanClients{{{self._sampler.get_description()}}}"
