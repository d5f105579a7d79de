"""Prometheus beside a native stack (``make run``): Debian's ``prometheus`` binary when it is on
PATH, scraping every process of the stack (:func:`devstack.prometheus.write_native_config`)
and evaluating the checkout's alert rules, its data in the stack's directory.

Optional: without the binary the stack runs as before and ``run`` prints how to get it
(:data:`MISSING_HINT`). Compose runs the official image with the same flags.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import httpx

from devstack.processes import LocalProcess, StartupError, free_port
from devstack.prometheus import write_native_config
from devstack.servers import LocalServer
from devstack.supervisor import Target

if TYPE_CHECKING:
    from devstack.stack import NativeStack

DEFAULT_PORT = 9090
"""Prometheus's own default, and compose's (``127.0.0.1:9090``)."""
FEATURES = ("exemplar-storage",)
"""As compose's command: exemplars (trace ids on histogram samples) link Grafana to Jaeger."""
MISSING_HINT = (
    "prometheus     not installed: `make prometheus-tools` (as root, Debian's prometheus"
    " package) and the next `make run` starts it on :9090"
)


def prometheus_binary() -> Path | None:
    found = shutil.which("prometheus")
    return Path(found) if found else None


@dataclass
class PrometheusServer(LocalServer):
    """Prometheus scraping a native stack (``config``, written by :func:`prometheus_for`);
    :meth:`start` waits for ``/-/ready``."""

    name: ClassVar[str] = "prometheus"
    restart_note: ClassVar[str] = "samples kept in its data dir"
    binary: Path = Path("prometheus")
    config: Path = Path("prometheus.yml")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        return [
            str(self.binary),
            f"--config.file={self.config}",
            f"--storage.tsdb.path={self.data_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            *(f"--enable-feature={feature}" for feature in FEATURES),
        ]

    def _prepare(self) -> LocalProcess:
        return self._process(self.argv())

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def target(self) -> Target:
        """This server as a supervisor target (restarted with backoff if it exits)."""
        return Target(
            name=self.name, kind="server", port=self.port, start=self.start,
            current=lambda: self.process, stop=self.stop, note=self.restart_note,
        )  # fmt: skip


def prometheus_for(
    stack: "NativeStack",
    *,
    port: int | None = None,
    binary: Path | None = None,
    data_dir: Path | None = None,
) -> PrometheusServer:
    """A (not yet started) Prometheus for ``stack``, its configuration written: on ``port`` (a
    free one by default), in ``data_dir`` (``<stack dir>/prometheus`` by default)."""
    data_dir = data_dir or stack.servers.root / "prometheus"
    return PrometheusServer(
        data_dir=data_dir,
        port=port if port is not None else free_port(),
        binary=binary or prometheus_binary() or Path("prometheus"),
        config=write_native_config(stack, data_dir / "prometheus.yml"),
    )


def start_for_run(stack: "NativeStack", *, default_port: bool) -> PrometheusServer | str:
    """What ``run`` does: Prometheus started and supervised with the stack (on 9090 with the
    default ports, else a free one), or the line to print instead of its URL."""
    binary = prometheus_binary()
    if binary is None:
        return MISSING_HINT
    server = prometheus_for(stack, port=DEFAULT_PORT if default_port else None, binary=binary)
    try:
        server.start()
    except StartupError as exc:
        # The stack is useful without it: say why and go on.
        server.stop()
        return f"prometheus     not started: {exc}".splitlines()[0]
    if stack.supervisor is not None:
        stack.supervisor.add(server.target())
    return server
