"""The processes of the stack: the one list the native runner starts and compose must mirror.

Each process runs the same command under compose and natively (only host and port differ), and
reads the same environment variable names. ``tests/contract`` checks docker-compose.yml
against this list.
"""

from dataclasses import dataclass
from typing import Literal

ServerName = Literal["postgres", "redis", "kafka", "cql"]


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    app: str
    """uvicorn factory, ``module:function``; or, with ``runner="module"``, a module to run."""
    settings: str
    """settings class, ``module:Class``; its fields are the process's environment."""
    env_prefix: str
    database: str | None = None
    servers: tuple[ServerName, ...] = ()
    default_port: int = 0
    runner: Literal["uvicorn", "module"] = "uvicorn"

    def command(self, host: str, port: int) -> list[str]:
        if self.runner == "module":
            return ["python", "-m", self.app, "--host", host, "--port", str(port)]
        # The protocol: uvicorn's httptools one with a timeout on every request head.
        return ["uvicorn", "--factory", self.app, "--host", host, "--port", str(port),
                "--no-access-log", "--timeout-graceful-shutdown", "5",
                "--http", "stackkit.header_timeout:HeaderTimeoutHttpTools"]  # fmt: skip


PROCESSES: tuple[ProcessSpec, ...] = (
    ProcessSpec("catalog", "catalog.app:create_app", "catalog.settings:CatalogSettings",
                "CATALOG_", servers=("redis", "kafka", "cql"), default_port=8001),
    ProcessSpec("dispatch", "dispatch.app:create_app", "dispatch.settings:DispatchSettings",
                "DISPATCH_", database="dispatch", servers=("postgres", "redis", "kafka"),
                default_port=8002),
    ProcessSpec("dispatch-2", "dispatch.app:create_app", "dispatch.settings:DispatchSettings",
                "DISPATCH_", database="dispatch", servers=("postgres", "redis", "kafka"),
                default_port=8012),
    ProcessSpec("chat", "chat.app:create_app", "chat.settings:ChatSettings", "CHAT_",
                database="chat", servers=("postgres", "redis", "kafka"), default_port=8003),
    ProcessSpec("chat-gateway", "chat.gateway", "chat.settings:ChatSettings", "CHAT_",
                database="chat", servers=("postgres", "redis", "kafka"), default_port=8004,
                runner="module"),
    ProcessSpec("chat-gateway-2", "chat.gateway", "chat.settings:ChatSettings", "CHAT_",
                database="chat", servers=("postgres", "redis", "kafka"), default_port=8014,
                runner="module"),
    ProcessSpec("chat-fanout", "chat.workers:create_fanout_app", "chat.settings:ChatSettings",
                "CHAT_", database="chat", servers=("postgres", "redis", "kafka"),
                default_port=8005),
    ProcessSpec("acquirer-a", "payments.acquirer:create_app", "payments.settings:AcquirerSettings",
                "ACQUIRER_", default_port=8101),
    ProcessSpec("acquirer-b", "payments.acquirer:create_app", "payments.settings:AcquirerSettings",
                "ACQUIRER_", default_port=8102),
    ProcessSpec("payments", "payments.app:create_app", "payments.settings:PaymentsSettings",
                "PAYMENTS_", database="payments", servers=("postgres", "kafka"),
                default_port=8006),
    ProcessSpec("payments-worker", "payments.workers:create_worker_app",
                "payments.settings:PaymentsSettings", "PAYMENTS_", database="payments",
                servers=("postgres", "kafka"), default_port=8007),
    ProcessSpec("edge-pop-1", "edge.app:create_app", "edge.settings:EdgeSettings", "EDGE_",
                database="edge", servers=("postgres", "kafka"), default_port=8081),
    ProcessSpec("edge-pop-2", "edge.app:create_app", "edge.settings:EdgeSettings", "EDGE_",
                database="edge", servers=("postgres", "kafka"), default_port=8082),
    ProcessSpec("edge-pop-3", "edge.app:create_app", "edge.settings:EdgeSettings", "EDGE_",
                database="edge", servers=("postgres", "kafka"), default_port=8083),
    ProcessSpec("edge", "edge.anycast", "edge.settings:AnycastSettings", "ANYCAST_",
                default_port=8080, runner="module"),
)  # fmt: skip


def process(name: str) -> ProcessSpec:
    for spec in PROCESSES:
        if spec.name == name:
            return spec
    raise KeyError(name)


ACQUIRERS = ("acquirer-a", "acquirer-b")
"""The simulated acquirers payments routes between (each its own process)."""

EDGE_ROUTED = {"catalog": "catalog", "dispatch": "dispatch", "chat": "chat", "payments": "payments"}
"""Edge path prefix -> the (first) process that serves it; :data:`EDGE_ORIGINS` lists them all."""


def instances(name: str) -> tuple[str, ...]:
    """Every process running the same program as ``name`` (``dispatch`` -> ``dispatch``,
    ``dispatch-2``): the instances an edge route must list so that it survives any one."""
    spec = process(name)
    return tuple(
        other.name
        for other in PROCESSES
        if (other.app, other.settings, other.runner) == (spec.app, spec.settings, spec.runner)
    )


CHAT_GATEWAYS = instances("chat-gateway")
"""WebSocket origins the edge serves at /chat-gateway."""

EDGE_ORIGINS = {prefix: instances(name) for prefix, name in EDGE_ROUTED.items()}
"""Edge path prefix -> every process that serves it (``EDGE_<PREFIX>_URLS``)."""

EDGE_POPS = {"edge-pop-1": ("pop-1", "eu-west"), "edge-pop-2": ("pop-2", "us-east"),
             "edge-pop-3": ("pop-3", "ap-southeast")}  # fmt: skip
"""PoP process -> (PoP name, region). The first is the upper tier the others ask on a miss."""
UPPER_TIER = "edge-pop-1"
