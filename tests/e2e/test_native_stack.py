"""The whole native stack, driven from outside like a user: through the edge, with real clients."""

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from devstack.processes import LocalProcess, wait_until
from devstack.stack import NativeStack
from devstack.topology import EDGE_ROUTED, process
from stackkit.events import Event
from stackkit.kafka import EventProducer, TopicSpec, ensure_topics
from tests.waiting import eventually

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def edge(native_stack: NativeStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=native_stack.edge_url, timeout=10) as client:
        yield client


@pytest.mark.parametrize("route", sorted(EDGE_ROUTED))
def test_every_service_is_ready_through_the_edge(edge: httpx.Client, route: str) -> None:
    response = edge.get(f"/{route}/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"] and set(body["checks"].values()) == {"ok"}
    assert response.headers["x-edge-pop"] == "pop-1"
    assert response.headers["cf-cache-status"] == "DYNAMIC"
    request_id = response.headers["x-request-id"]
    assert response.headers["cf-ray"] == f"{request_id}-pop-1"


def test_every_process_serves_docs_and_metrics(native_stack: NativeStack) -> None:
    for name in native_stack.processes:
        if name == "edge":  # the anycast stand-in splices bytes; it has a status page only
            pops = httpx.get(f"{native_stack.url(name)}/_anycast/status").json()["pops"]
            assert all(pop["healthy"] for pop in pops)
            continue
        metrics = httpx.get(f"{native_stack.url(name)}/metrics").text
        if process(name).runner == "module":  # the chat gateways: a WebSocket server
            assert "chat_gateway_connections" in metrics
            continue
        assert httpx.get(f"{native_stack.url(name)}/openapi.json").status_code == 200
        assert "http_requests_total" in metrics


@pytest.mark.parametrize("route", sorted(EDGE_ROUTED))
def test_each_services_docs_work_through_the_edge(edge: httpx.Client, route: str) -> None:
    docs = edge.get(f"/{route}/docs")
    assert docs.status_code == 200
    assert f"'/{route}/openapi.json'" in docs.text
    assert edge.get(f"/{route}/openapi.json").json()["info"]["title"] == route


def test_an_unknown_path_is_a_404_in_the_error_model(edge: httpx.Client) -> None:
    response = edge.get("/nowhere/at/all")
    assert response.status_code == 404
    assert response.json()["error"]["request_id"] == response.headers["x-request-id"]


def _tails(probes: dict[str, LocalProcess]) -> str:
    return "\n".join(f"{name}:\n{probe.log_tail(10)}" for name, probe in probes.items())


def _probe(stack: NativeStack, group: str, topic: str, dsn: str) -> LocalProcess:
    return LocalProcess(
        name=f"probe-{group}",
        argv=[sys.executable, "-m", "tests.e2e.consumer_probe", "--bootstrap",
              stack.servers.kafka.bootstrap_servers, "--dsn", dsn, "--group", group,
              "--topic", topic],
        log_path=stack.logs_dir() / f"probe-{group}.log",
        cwd=ROOT,
    )  # fmt: skip


async def test_each_event_is_consumed_once_per_group_across_a_consumer_crash(
    native_stack: NativeStack,
) -> None:
    servers = native_stack.servers
    dsn = servers.postgres.url("chat")
    topic = f"e2e.exactly-once-{uuid.uuid4().hex[:8]}"
    await ensure_topics(servers.kafka.bootstrap_servers, [TopicSpec(topic, partitions=3)])
    producer = await EventProducer.start(servers.kafka.bootstrap_servers, timeout_s=10)
    events = [
        Event(type="e2e.tick", source="tests", subject=f"k{n % 7}", data={"n": n})
        for n in range(300)
    ]
    try:
        for event in events:
            await producer.publish(topic, event)
    finally:
        await producer.stop()

    crashing, steady = f"crashing-{topic}", f"steady-{topic}"
    probes = {group: _probe(native_stack, group, topic, dsn) for group in (crashing, steady)}
    conn = await asyncpg.connect(dsn)

    async def handled(group: str) -> int:
        try:
            count: int = await conn.fetchval(
                "SELECT count(*) FROM probe_received WHERE consumer_group = $1", group
            )
        except asyncpg.UndefinedTableError:
            return 0
        return count

    try:
        for probe in probes.values():
            probe.start()

        async def crashing_is_mid_stream() -> bool:
            return await handled(crashing) >= 60

        await eventually(
            crashing_is_mid_stream, timeout_s=60, what=lambda: f"60 events; {_tails(probes)}"
        )
        probes[crashing].kill()
        at_crash = await handled(crashing)
        assert at_crash < len(events), "the crash must land mid-stream"
        probes[crashing] = _probe(native_stack, crashing, topic, dsn)
        probes[crashing].start()

        async def all_handled() -> bool:
            return all([await handled(group) >= len(events) for group in probes])

        await eventually(all_handled, timeout_s=90, what=lambda: f"all events; {_tails(probes)}")
        for group in probes:
            rows = await conn.fetch(
                "SELECT event_id, count(*) AS n FROM probe_received WHERE consumer_group = $1 "
                "GROUP BY event_id",
                group,
            )
            assert {row["event_id"] for row in rows} == {event.id for event in events}
            assert max(row["n"] for row in rows) == 1, f"{group} handled an event twice"
    finally:
        for probe in probes.values():
            probe.stop()
        await conn.close()


def test_a_killed_service_is_a_502_then_comes_back(
    native_stack: NativeStack, edge: httpx.Client
) -> None:
    native_stack.kill("payments")
    response = edge.get("/payments/readyz")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_unreachable"
    native_stack.start(["payments"])
    assert edge.get("/payments/readyz").status_code == 200


@pytest.mark.parametrize(("server", "route"), [("redis", "catalog"), ("postgres", "payments")])
def test_services_survive_a_dependency_restart(
    native_stack: NativeStack, edge: httpx.Client, server: str, route: str
) -> None:
    local_server = getattr(native_stack.servers, server)
    local_server.stop()
    assert edge.get(f"/{route}/readyz").status_code == 503
    local_server.start()

    def ready_again() -> bool:
        return edge.get(f"/{route}/readyz").status_code == 200

    wait_until(ready_again, timeout_s=30, what=f"{route} ready after {server} restart")
    assert edge.get(f"/{route}/readyz").json()["checks"][server] == "ok"
    # Later tests need every service back, not only the one watched here.
    native_stack.wait_ready_through_edge()


def test_a_service_started_before_its_database_waits_for_it(
    native_stack: NativeStack, edge: httpx.Client
) -> None:
    postgres = native_stack.servers.postgres
    native_stack.stop(["payments"])
    postgres.stop()
    native_stack.start(["payments"], wait=False)
    try:
        # Still waiting for Postgres in its start-up: alive, but not serving yet.
        assert native_stack.processes["payments"].alive
        assert edge.get("/payments/readyz").status_code == 502
    finally:
        postgres.start()
    native_stack.wait_ready("payments")
    assert edge.get("/payments/readyz").status_code == 200
