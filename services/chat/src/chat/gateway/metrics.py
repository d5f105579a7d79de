"""The gateway's own metrics, served on its ``/metrics``."""

from prometheus_client import CollectorRegistry, Counter, Gauge


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.connections = Gauge("chat_gateway_connections", "Open WebSocket connections",
                                 registry=self.registry)  # fmt: skip
        self.delivered = Counter("chat_gateway_frames", "Frames written to clients", ["kind"],
                                 registry=self.registry)  # fmt: skip
        self.rejected = Counter("chat_gateway_rejected", "Client frames refused", ["reason"],
                                registry=self.registry)  # fmt: skip
