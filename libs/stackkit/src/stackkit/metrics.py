"""Prometheus metrics: one registry per app so tests can build many apps in one process.

Latencies observed inside a sampled span carry its trace id as an exemplar
(:func:`trace_exemplar`), so a dashboard's slow bucket links to a trace. Exemplars exist only in
the OpenMetrics text format, which ``/metrics`` answers when the scraper's ``Accept`` asks for
it (Prometheus does); other scrapers get the classic text format, without them.
"""

from dataclasses import dataclass, field

from opentelemetry import trace
from prometheus_client import CollectorRegistry, Counter, Histogram

from stackkit import tracing

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def trace_exemplar() -> dict[str, str] | None:
    """``{"trace_id": <32 hex>}`` of the current span when this process traces and the span is
    sampled (an unsampled trace is nowhere to be found), else None: pass it as ``observe``'s
    ``exemplar``. Not tracing: one check of a module flag."""
    if not tracing.exporting():
        return None
    context = trace.get_current_span().get_span_context()
    if not (context.is_valid and context.trace_flags.sampled):
        return None
    return {"trace_id": trace.format_trace_id(context.trace_id)}


@dataclass
class HttpMetrics:
    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )

    def __post_init__(self) -> None:
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests served, by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency, by route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Called inside the request's server span (when tracing), which the exemplar names."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds, exemplar=trace_exemplar())
