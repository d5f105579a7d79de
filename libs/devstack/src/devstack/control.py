"""The runner's control API on 127.0.0.1, and the client ``python -m devstack ctl`` uses.

- ``GET /processes``: the status of every supervised process and server;
  ``GET /processes/{name}``: one.
- ``POST /processes/{name}/{kill|pause|resume|restart|stop|start}``: ``kill`` is SIGKILL (the
  supervisor starts it again after its backoff), ``stop`` keeps it down until ``start``,
  ``pause``/``resume`` are SIGSTOP/SIGCONT.
- ``GET /metrics``: Prometheus text (``devstack_process_up``, ``..._restarts_total``...).

An unknown name is a 404 that lists the names, an unknown action a 400, an action the state
does not allow (pausing a process that is down) a 409. The runner writes where it listens to
``control.json`` in the stack's directory; ``ctl`` reads it from there.

The standard library's threading HTTP server: a handful of requests from people and the chaos
monkey, on a thread beside the supervisor, needs no framework.
"""

import json
import os
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from devstack.supervision import ProcessStatus, render_metrics
from devstack.supervisor import NotRunning, Supervisor, UnknownAction, UnknownProcess

DEFAULT_PORT = 8099
STATE_FILE = "control.json"


class ControlError(RuntimeError):
    """What the control API answered with an error, or that nothing answered."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _handler(supervisor: Supervisor) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "devstack-control"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the supervisor says what each action did."""

        def _send(self, status: int, body: dict[str, Any] | str) -> None:
            text = body if isinstance(body, str) else json.dumps(body) + "\n"
            kind = "text/plain; version=0.0.4" if isinstance(body, str) else "application/json"
            payload = text.encode()
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _error(self, status: HTTPStatus, message: str, **extra: Any) -> None:
            self._send(status, {"error": {"status": int(status), "message": message, **extra}})

        def _parts(self) -> list[str]:
            return [part for part in self.path.split("?")[0].split("/") if part]

        def do_GET(self) -> None:
            parts = self._parts()
            try:
                if parts == ["metrics"]:
                    self._send(HTTPStatus.OK, render_metrics(supervisor.status()))
                elif parts == ["processes"]:
                    statuses = supervisor.status()
                    self._send(HTTPStatus.OK, {"processes": [s.to_json() for s in statuses]})
                elif len(parts) == 2 and parts[0] == "processes":
                    self._send(HTTPStatus.OK, supervisor.status(parts[1])[0].to_json())
                else:
                    self._error(HTTPStatus.NOT_FOUND, f"no route GET {self.path}")
            except UnknownProcess as exc:
                self._error(HTTPStatus.NOT_FOUND, str(exc), processes=exc.known)

        def do_POST(self) -> None:
            parts = self._parts()
            if len(parts) != 3 or parts[0] != "processes":
                self._error(HTTPStatus.NOT_FOUND, f"no route POST {self.path}")
                return
            _, name, action = parts
            try:
                message = supervisor.act(name, action)
            except UnknownProcess as exc:
                self._error(HTTPStatus.NOT_FOUND, str(exc), processes=exc.known)
            except UnknownAction as exc:
                self._error(HTTPStatus.BAD_REQUEST, str(exc))
            except NotRunning as exc:
                self._error(HTTPStatus.CONFLICT, str(exc))
            else:
                supervisor.say(f"control: {message}")
                status = supervisor.status(name)[0].to_json()
                self._send(HTTPStatus.OK, {"message": message, "process": status})

    return Handler


@dataclass
class ControlServer:
    """The control API served on a thread; :meth:`close` stops it and removes the state
    file."""

    http: ThreadingHTTPServer
    state_file: Path | None
    thread: threading.Thread

    @property
    def url(self) -> str:
        host, port = self.http.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.thread.join()
        if self.state_file is not None:
            self.state_file.unlink(missing_ok=True)


def serve_control(
    supervisor: Supervisor, *, port: int = DEFAULT_PORT, state_dir: Path | None = None
) -> ControlServer:
    """Serve the control API on 127.0.0.1:``port`` (0: a free one); with ``state_dir``, write
    its address to ``state_dir/control.json`` for ``ctl`` to find."""
    http = ThreadingHTTPServer(("127.0.0.1", port), _handler(supervisor))
    http.daemon_threads = True
    thread = threading.Thread(target=http.serve_forever, name="control-api", daemon=True)
    thread.start()
    server = ControlServer(http, None, thread)
    if state_dir is not None:
        server.state_file = state_dir / STATE_FILE
        server.state_file.write_text(json.dumps({"url": server.url, "pid": os.getpid()}) + "\n")
    return server


def control_url(*, url: str | None = None, data_dir: Path | None = None) -> str:
    """Where ``ctl`` finds the runner: ``url``, else the state file in ``data_dir``, else
    ``DEVSTACK_CONTROL_URL``, else the default port."""
    if url:
        return url.rstrip("/")
    if data_dir is not None:
        state = data_dir / STATE_FILE
        try:
            found: str = json.loads(state.read_text())["url"]
        except (OSError, ValueError, KeyError) as exc:
            raise ControlError(f"no runner's state in {state} ({exc})") from None
        return found
    return os.environ.get("DEVSTACK_CONTROL_URL", f"http://127.0.0.1:{DEFAULT_PORT}").rstrip("/")


@dataclass
class ControlClient:
    url: str
    timeout_s: float = 10.0

    def _call(self, method: str, path: str) -> httpx.Response:
        try:
            response = httpx.request(method, f"{self.url}{path}", timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            raise ControlError(
                f"no runner answers at {self.url} ({type(exc).__name__}: {exc}); is "
                "`make run` running? (`--url` or `--data-dir` find one on other ports)"
            ) from None
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text.strip() or response.reason_phrase
            raise ControlError(message, response.status_code)
        return response

    def status(self, name: str | None = None) -> list[ProcessStatus]:
        if name is not None:
            return [ProcessStatus.from_json(self._call("GET", f"/processes/{name}").json())]
        listed = self._call("GET", "/processes").json()["processes"]
        return [ProcessStatus.from_json(item) for item in listed]

    def act(self, name: str, action: str) -> str:
        """Do ``action`` to ``name``; the runner's sentence about it."""
        answer: str = self._call("POST", f"/processes/{name}/{action}").json()["message"]
        return answer

    def metrics(self) -> str:
        return self._call("GET", "/metrics").text
