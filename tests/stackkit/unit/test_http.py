"""The stack's HTTP client: no redirects followed, nothing taken from the environment."""

import asyncio
from collections.abc import AsyncIterator

import pytest

from stackkit.http import internal_client


class Server:
    """A one-answer HTTP/1.1 server on a free local port, recording the request lines."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.url = ""

    async def start(self) -> asyncio.Server:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        return server

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.requests.append(head.split(b"\r\n", 1)[0])
        writer.write(self.answer)
        await writer.drain()
        writer.close()


@pytest.fixture
async def redirecting() -> AsyncIterator[Server]:
    server = Server(
        b"HTTP/1.1 307 Temporary Redirect\r\nlocation: /elsewhere\r\n"
        b"content-length: 0\r\nconnection: close\r\n\r\n"
    )
    running = await server.start()
    async with running:
        yield server


async def test_a_redirect_is_the_answer_not_followed(redirecting: Server) -> None:
    async with internal_client(2.0) as http:
        response = await http.get(f"{redirecting.url}/here")
    assert response.status_code == 307
    assert redirecting.requests == [b"GET /here HTTP/1.1"]


async def test_a_base_url_prefixes_relative_paths(redirecting: Server) -> None:
    async with internal_client(2.0, base_url=f"{redirecting.url}/dispatch") as http:
        await http.post("/v1/trips", json={})
    assert redirecting.requests == [b"POST /dispatch/v1/trips HTTP/1.1"]


@pytest.mark.parametrize("trust_env", [True, False])
async def test_proxies_from_the_environment_never_apply(
    redirecting: Server, monkeypatch: pytest.MonkeyPatch, trust_env: bool
) -> None:
    for variable in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")  # discard: nothing listens
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with internal_client(2.0, trust_env=trust_env) as http:
        response = await http.get(f"{redirecting.url}/direct")
    assert response.status_code == 307
    assert redirecting.requests == [b"GET /direct HTTP/1.1"]


def test_without_trust_env_tls_ignores_a_ca_bundle_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent/ca-bundle.pem")
    with pytest.raises(OSError):
        internal_client(2.0)  # trusts the environment: reads the bundle it names
    internal_client(2.0, trust_env=False)  # does not look
