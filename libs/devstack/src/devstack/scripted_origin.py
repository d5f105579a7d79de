"""An origin whose answers a test or an experiment scripts per path, and which counts what
reached it (a threading HTTP server: the edge tests and experiments put it behind a route)."""

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Script:
    body: bytes = b"hello"
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    etag: str | None = None
    """Answer If-None-Match with 304 when it matches."""
    delay_s: float = 0.0
    vary_on: str | None = None
    """Echo this request header's value into the body (for Vary tests)."""
    reset: bool = False
    """Close the connection without answering."""


@dataclass
class ScriptedOrigin:
    scripts: dict[str, Script] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    conditional_hits: Counter[str] = field(default_factory=Counter)
    seen_headers: dict[str, dict[str, str]] = field(default_factory=dict)
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _handler(origin: ScriptedOrigin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with origin.lock:
                origin.hits[path] += 1
                origin.seen_headers[path] = {k.lower(): v for k, v in self.headers.items()}
                script = origin.scripts.get(path, Script(status=404, body=b"no script"))
            if script.delay_s:
                time.sleep(script.delay_s)
            if script.reset:
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if script.etag and self.headers.get("If-None-Match") == script.etag:
                with origin.lock:
                    origin.conditional_hits[path] += 1
                self.send_response(304)
                self.send_header("ETag", script.etag)
                for name, value in script.headers:
                    self.send_header(name, value)
                self.end_headers()
                return
            body = script.body
            if script.vary_on:
                body += b":" + self.headers.get(script.vary_on, "").encode()
            self.send_response(script.status)
            if script.etag:
                self.send_header("ETag", script.etag)
            for name, value in script.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

    return Handler


@contextmanager
def scripted_origin() -> Iterator[ScriptedOrigin]:
    origin = ScriptedOrigin()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(origin))
    server.daemon_threads = True
    server.request_queue_size = 2048
    origin.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield origin
    finally:
        server.shutdown()
        server.server_close()
