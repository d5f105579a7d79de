import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
import stripe

from devstack.servers import CqlServer, KafkaServer, LocalServers, PostgresServer, RedisServer
from devstack.stack import NativeStack
from devstack.topology import ACQUIRERS
from payments.store import ensure_schema

DEFAULT_PROFILE = {
    "latency_ms": 5,
    "soft_decline_rate": 0,
    "timeout_rate": 0,
    "error_rate": 0,
    "hang_s": 30,
}


@dataclass
class Merchant:
    id: str
    secret_key: str
    client: stripe.StripeClient
    base_url: str

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers={"authorization": f"Bearer {self.secret_key}"},
            timeout=30,
        )


def new_merchant(stack: NativeStack, name: str = "shop", *, direct: bool = False) -> Merchant:
    """A merchant and a stripe client for it, through the edge or (``direct``) straight to
    the payments process."""
    base_url = stack.url("payments") if direct else f"{stack.edge_url}/payments"
    created = httpx.post(f"{base_url}/dev/merchants", json={"name": name}, timeout=10).json()
    client = stripe.StripeClient(
        created["secret_key"], base_addresses={"api": base_url}, max_network_retries=2
    )
    return Merchant(created["id"], created["secret_key"], client, base_url)


def _payments_servers(root: Path, postgres: PostgresServer, kafka: KafkaServer) -> LocalServers:
    # Payments needs only Postgres and Kafka; the others are named, never started.
    return LocalServers(root=root, postgres=postgres, kafka=kafka, redis=RedisServer(root / "redis"),
                        cql=CqlServer(root / "cql"), redis_b=RedisServer(root / "redis-b"),
                        owns_root=False)  # fmt: skip


def _start(stack: NativeStack, names: list[str]) -> Iterator[NativeStack]:
    stack.start(names)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def payments_stack(
    devstack_root: Path, postgres_server: PostgresServer, kafka_server: KafkaServer
) -> Iterator[NativeStack]:
    """Only payments, its worker and the acquirers, as real processes: its tests need neither
    the edge nor the other services (nor wait for them to start). It shares the database and
    the topic with the full stack if that runs too, as a second replica would."""
    servers = _payments_servers(devstack_root / "payments-stack", postgres_server, kafka_server)
    yield from _start(NativeStack.create(servers), [*ACQUIRERS, "payments", "payments-worker"])


@pytest.fixture(scope="module")
def strict_payments(
    devstack_root: Path, postgres_server: PostgresServer, kafka_server: KafkaServer
) -> Iterator[NativeStack]:
    """A payments API process configured as production is: private webhook targets refused."""
    servers = _payments_servers(devstack_root / "payments-strict", postgres_server, kafka_server)
    stack = NativeStack.create(servers)
    stack.overrides = {"payments": {"PAYMENTS_WEBHOOK_ALLOW_PRIVATE_TARGETS": "false"}}
    yield from _start(stack, ["payments"])


@pytest.fixture
def merchant(native_stack: NativeStack) -> Merchant:
    return new_merchant(native_stack)


@pytest.fixture
def acquirers(native_stack: NativeStack) -> Iterator[dict[str, str]]:
    """Acquirer name -> URL; every profile is put back to normal afterwards."""
    urls = {name: native_stack.url(name) for name in ACQUIRERS}
    yield urls
    for url in urls.values():
        httpx.put(f"{url}/profile", json=DEFAULT_PROFILE, timeout=10).raise_for_status()


def set_profile(url: str, **changes: float) -> None:
    httpx.put(f"{url}/profile", json={**DEFAULT_PROFILE, **changes}, timeout=10).raise_for_status()


def acquirer_stats(urls: dict[str, str]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for url in urls.values():
        for name, value in httpx.get(f"{url}/stats", timeout=10).json().items():
            totals[name] = totals.get(name, 0) + value
    return totals


@pytest.fixture
async def pool(postgres_server: PostgresServer) -> AsyncIterator["asyncpg.Pool[asyncpg.Record]"]:
    """A payments schema for in-process senders."""
    # Its own database: the stack's workers must not deliver these rows.
    admin = await asyncpg.connect(postgres_server.admin_url)
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = 'webhook_targets'"):
            await admin.execute("CREATE DATABASE webhook_targets")
    finally:
        await admin.close()
    created = await asyncpg.create_pool(postgres_server.url("webhook_targets"), min_size=1)
    await ensure_schema(created)
    yield created
    await created.close()


async def pending_delivery(pool: "asyncpg.Pool[asyncpg.Record]", url: str) -> int:
    """A merchant, an endpoint at ``url``, an event and its pending delivery, written as the
    API and the consumer would; returns the delivery's id."""
    merchant, endpoint, event = (f"{kind}_{uuid.uuid4().hex}" for kind in ("acct", "we", "evt"))
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO merchants (id, name) VALUES ($1, 'm')", merchant)
        await conn.execute(
            "INSERT INTO webhook_endpoints (id, merchant_id, url, secret, enabled_events, created)"
            " VALUES ($1, $2, $3, 'whsec_x', '[\"*\"]', 0)",
            endpoint,
            merchant,
            url,
        )
        await conn.execute(
            "INSERT INTO events (id, merchant_id, type, created, data) "
            "VALUES ($1, $2, 'payment_intent.created', 0, '{\"object\": {}}')",
            event,
            merchant,
        )
        return int(
            await conn.fetchval(
                "INSERT INTO webhook_deliveries (endpoint_id, event_id) VALUES ($1, $2) "
                "RETURNING id",
                endpoint,
                event,
            )
        )
