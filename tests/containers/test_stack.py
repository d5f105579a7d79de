"""The compose stack (real docker-compose.yml, local stand-ins for the backing servers) driven
from outside like a user, through the edge's one published port: the native e2e smoke again."""

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from slack_sdk import WebClient
from websockets.asyncio.client import connect

from devstack.containers.images import LOCAL_PYTHON, ImageBuild, ImageBuilder
from devstack.containers.stack import PROJECT, ContainerStack
from devstack.topology import EDGE_ROUTED

pytestmark = pytest.mark.containers


@pytest.fixture(scope="module")
def edge(compose_stack: ContainerStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=compose_stack.edge_url, timeout=30) as client:
        yield client


@contextmanager
def explained_by(stack: ContainerStack, *services: str) -> Iterator[None]:
    """A failing step says what the services behind it logged (a smoke failure once gave only
    a 402 ``processing_error``, and the containers were gone before anyone could look)."""
    try:
        yield
    except Exception as exc:
        raise AssertionError(f"{exc!r}\n--- logs\n{stack.logs(*services)}") from exc


@pytest.mark.parametrize("route", sorted(EDGE_ROUTED))
def test_every_service_is_ready_through_the_edge(edge: httpx.Client, route: str) -> None:
    response = edge.get(f"/{route}/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"] and set(body["checks"].values()) == {"ok"}
    assert response.headers["x-edge-pop"] == "pop-1"


def test_the_anycast_entry_sees_every_pop(compose_stack: ContainerStack) -> None:
    # A fresh connection: the entry answers only a connection's first request itself, the rest
    # are spliced to the PoP it chose.
    pops = httpx.get(f"{compose_stack.edge_url}/_anycast/status", timeout=30).json()["pops"]
    assert {pop["name"] for pop in pops if pop["healthy"]} == {"pop-1", "pop-2", "pop-3"}


def test_a_payment_with_the_stripe_sdk(edge: httpx.Client, compose_stack: ContainerStack) -> None:
    base_url = f"{compose_stack.edge_url}/payments"
    created = edge.post("/payments/dev/merchants", json={"name": "containers"})
    assert created.status_code == 200, created.text
    client = stripe.StripeClient(created.json()["secret_key"], base_addresses={"api": base_url})
    intents = client.v1.payment_intents
    with explained_by(compose_stack, "payments", "acquirer-a", "acquirer-b"):
        intent = intents.create(params={"amount": 2000, "currency": "usd"})
        confirmed = intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    assert (confirmed.status, confirmed.amount_received) == ("succeeded", 2000)


async def test_a_slack_sdk_message_reaches_a_websocket_client_on_a_gateway(
    compose_stack: ContainerStack,
) -> None:
    edge = compose_stack.edge_url
    users = []
    async with httpx.AsyncClient(timeout=30) as client:
        for name in ("ada", "bob"):
            response = await client.post(
                f"{edge}/chat/dev/users", json={"name": f"{name}-{uuid.uuid4().hex[:6]}"}
            )
            assert response.status_code == 200, response.text
            users.append(response.json())
    ada, bob = (WebClient(token=u["token"], base_url=f"{edge}/chat/api/") for u in users)
    with explained_by(compose_stack, "chat"):
        channel = ada.conversations_create(name=f"box-{uuid.uuid4().hex[:8]}")["channel"]["id"]
        bob.conversations_join(channel=channel)
    ws_url = f"{edge.replace('http://', 'ws://')}/chat-gateway/ws?token={users[1]['token']}"
    async with connect(ws_url) as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert hello["type"] == "hello"
        ada.chat_postMessage(channel=channel, text="from a container")

        async def next_message() -> dict[str, Any]:
            while True:
                event: dict[str, Any] = json.loads(await ws.recv())
                if event["type"] == "message":
                    return event

        message = await asyncio.wait_for(next_message(), 30)
    assert (message["text"], message["channel"]) == ("from a container", channel)


def test_a_service_s_logs_can_be_read(compose_stack: ContainerStack) -> None:
    # What a failed step shows (explained_by): compose prefixes each line with its container.
    lines = compose_stack.logs("payments", tail=5).splitlines()
    assert lines and all(line.startswith("payments-1") for line in lines), lines


def test_a_nearby_query_finds_a_reported_driver(edge: httpx.Client) -> None:
    driver = f"d-{uuid.uuid4().hex[:8]}"
    reported = edge.post(
        "/dispatch/v1/locations",
        json={"updates": [{"driver_id": driver, "lat": 52.52, "lng": 13.405}]},
    )
    assert reported.status_code == 200, reported.text
    nearby = edge.get(
        "/dispatch/v1/drivers/nearby",
        params={"lat": 52.5201, "lng": 13.4051, "radius_m": 500, "limit": 10},
    )
    assert nearby.status_code == 200, nearby.text
    assert driver in [found["driver_id"] for found in nearby.json()["drivers"]]


def test_a_catalog_play_is_steered(edge: httpx.Client) -> None:
    title = f"t-{uuid.uuid4().hex[:8]}"
    body = {"name": "Boxed", "genres": ["drama"], "year": 2020, "duration_s": 5400}
    assert edge.put(f"/catalog/v1/titles/{title}", json=body).status_code == 200
    params: dict[str, str | int] = {"isp": "telco-eu-1", "region": "eu", "codecs": "h264,hevc",
                                    "max_height": 1080, "bandwidth_kbps": 6000}  # fmt: skip
    played = edge.get(f"/catalog/v1/titles/{title}/play", params=params)
    assert played.status_code == 200, played.text
    assert played.json()["manifest"]
    assert played.json()["sources"][-1] == f"http://origin.catalog.local/{title}"


def test_a_gateway_stops_cleanly_on_sigterm(compose_stack: ContainerStack) -> None:
    """As PID 1 an unhandled SIGTERM is ignored: `docker stop` would wait out its timeout and
    SIGKILL (exit 137). Runs last: it stops chat-gateway-2, then brings it back."""
    started = time.monotonic()
    stopped = compose_stack.compose("stop", "--timeout", "20", "chat-gateway-2")
    took_s = time.monotonic() - started
    assert stopped.returncode == 0
    exit_code = compose_stack.engine.cli(
        "inspect", "--format", "{{.State.ExitCode}}", f"{PROJECT}-chat-gateway-2-1"
    ).stdout.strip()
    assert exit_code == "0", f"exit {exit_code} after {took_s:.1f} s"
    assert took_s < 15, f"took {took_s:.1f} s to stop"
    assert compose_stack.compose("start", "chat-gateway-2").returncode == 0


def test_a_dockerfile_that_does_not_build_fails_loudly(
    compose_stack: ContainerStack, tmp_path: Path
) -> None:
    broken = tmp_path / "Dockerfile"
    broken.write_text("ARG PYTHON_IMAGE=python:3.11-slim-bookworm\nFROM ${PYTHON_IMAGE}\n"
                      "RUN python -c 'import no_such_module'\n")  # fmt: skip
    builder = ImageBuilder(compose_stack.engine, tmp_path)
    if compose_stack.engine.kind == "podman":
        builder.args["PYTHON_IMAGE"] = LOCAL_PYTHON
    with pytest.raises(RuntimeError, match="No module named 'no_such_module'"):
        builder.build(ImageBuild("real-world-architectures/broken:dev", broken, tmp_path))
