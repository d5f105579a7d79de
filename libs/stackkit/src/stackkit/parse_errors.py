"""uvicorn's HTTP protocol answering unparsable requests in the stack's error shape.

uvicorn writes ``400 Invalid HTTP request received.`` as text/plain when httptools refuses a
request (a NUL or a bare CR in a header, a malformed request line, a bad chunk), so a client
that parses every error body (the stripe SDK, slack_sdk) fails on the body instead of
reporting the error. Same status, same connection close; only the body changes.
"""

import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from stackkit.middleware import REQUEST_ID_HEADER, new_request_id


def bad_request_response(message: str) -> bytes:
    """A complete ``400`` response closing the connection, body ``{"error": {...}}``."""
    request_id = new_request_id()
    body = orjson.dumps(
        {
            "error": {
                "type": "invalid_request_error",
                "code": "malformed_request",
                "message": message,
                "param": None,
                "request_id": request_id,
            }
        }
    )
    head = (
        b"content-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n"
        + REQUEST_ID_HEADER.encode() + b": " + request_id.encode() + b"\r\n"
        b"connection: close\r\n\r\n"
    )  # fmt: skip
    return STATUS_LINE[400] + head + body


class JsonErrorsHttpTools(HttpToolsProtocol):
    """The base of :class:`stackkit.header_timeout.HeaderTimeoutHttpTools`, the protocol every
    uvicorn process of the stack runs (``--http`` in devstack.topology and the Dockerfiles)."""

    def send_400_response(self, msg: str) -> None:
        self.transport.write(bad_request_response(msg))
        self.transport.close()
