"""A real HTTP webhook receiver for tests: it answers a chosen status, can hold requests (a slow
receiver) or stop listening (connections refused), and keeps every request it got."""

import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import stripe

from devstack.processes import free_port


@dataclass(frozen=True)
class Call:
    body: bytes
    signature: str
    status: int
    traceparent: str = ""
    """The W3C context the request carried (empty when the sender traces nothing)."""


class Receiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.calls: list[Call] = []
        self.status = 200
        self.location: str | None = None
        """Sent as ``Location`` (with a 3xx status: a redirect the sender must not follow)."""
        self.holding = threading.Event()
        """Set: requests are held (never answered) until :meth:`release`."""
        self.in_flight = 0
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                with receiver._lock:
                    receiver.in_flight += 1
                try:
                    if receiver.holding.is_set():
                        receiver._released.wait(60)
                    status = receiver.status
                    receiver.calls.append(
                        Call(
                            body,
                            self.headers.get("stripe-signature", ""),
                            status,
                            self.headers.get("traceparent", ""),
                        )
                    )
                    self.send_response(status)
                    if receiver.location is not None:
                        self.send_header("location", receiver.location)
                    self.send_header("content-length", "0")
                    self.end_headers()
                finally:
                    with receiver._lock:
                        receiver.in_flight -= 1

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def server_bind(self) -> None:
                self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                super().server_bind()

        self._server = Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Stop listening: deliveries now have their connections refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def release(self) -> None:
        self.holding.clear()
        self._released.set()

    def accepted(self, secret: str) -> list[Any]:
        """The events answered 2xx, each verified with the official stripe SDK."""
        return [
            stripe.Webhook.construct_event(call.body.decode(), call.signature, secret)
            for call in list(self.calls)
            if 200 <= call.status < 300
        ]

    def event_ids(self) -> list[str]:
        return [str(json.loads(call.body)["id"]) for call in list(self.calls)]
