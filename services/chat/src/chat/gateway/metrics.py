"""The gateway's own metrics, served on its ``/metrics``."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from stackkit.metrics import LATENCY_BUCKETS

DELIVERY_BUCKETS = (*LATENCY_BUCKETS, 10.0)
"""A stalled fanout or a slow socket is seconds late: the stack's buckets, and 10 s."""


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.connections = Gauge("chat_gateway_connections", "Open WebSocket connections",
                                 registry=self.registry)  # fmt: skip
        self.delivered = Counter("chat_gateway_frames", "Frames written to clients", ["kind"],
                                 registry=self.registry)  # fmt: skip
        self.rejected = Counter("chat_gateway_rejected", "Client frames refused", ["reason"],
                                registry=self.registry)  # fmt: skip
        self.delivery_seconds = Histogram(
            "chat_delivery_seconds",
            "From a message's creation at the chat API (its event's time) to its WebSocket"
            " write to a client of this gateway (live deliveries)",
            buckets=DELIVERY_BUCKETS, registry=self.registry,
        )  # fmt: skip
