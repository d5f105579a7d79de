"""Webhook delivery: events from Kafka become delivery rows (once, through the inbox), and a
sender POSTs them with Stripe's signature.

Each endpoint gets its events one at a time in the order they were created, and a failure
holds only that endpoint back (exponential backoff with jitter, on its oldest undelivered
event). Endpoints are delivered to concurrently, each run under a lease in Postgres so two
workers never send to one endpoint at once, and every request has a deadline: a slow or dead
receiver costs its own endpoint time, never another merchant's.

A delivery row keeps the ``traceparent`` of the consumer span that planned it (the event's
trace, from the payment's request on): each try of it is a span in that trace, and its POST
(the httpx client span) carries the trace on to the merchant's receiver."""

import asyncio
import contextlib
import json
import random
import time
from dataclasses import dataclass, field
from functools import partial

import asyncpg
import httpx
from prometheus_client import CollectorRegistry, Counter, Histogram

from payments import objects
from payments.domain.webhooks import Backoff, signature_header, wants
from payments.targets import Resolver, TargetRefused, resolve_target, system_resolver
from stackkit import tracing
from stackkit.events import Event
from stackkit.http import internal_client
from stackkit.inbox import PostgresTx
from stackkit.logs import get_logger
from stackkit.metrics import LATENCY_BUCKETS

log = get_logger(__name__)
WEBHOOK_GROUP = "payments-webhooks"
RUN_BATCH = 20
"""Deliveries one run sends to its endpoint before handing the endpoint back."""
LEASE_MARGIN_S = 15.0

# The oldest pending delivery of each endpoint is its head: an endpoint is due when its head
# is. Later deliveries wait behind it, which is what keeps each endpoint's events in order.
_CLAIM_DUE_ENDPOINTS = """
WITH heads AS (
    SELECT DISTINCT ON (d.endpoint_id) d.endpoint_id, d.next_attempt_at
    FROM webhook_deliveries d JOIN events v ON v.id = d.event_id
    WHERE d.status = 'pending' AND d.endpoint_id <> ALL($3::text[])
    ORDER BY d.endpoint_id, v.seq
), due AS (
    SELECT endpoint_id FROM heads WHERE next_attempt_at <= now()
    ORDER BY next_attempt_at LIMIT $1
)
UPDATE webhook_endpoints e SET leased_until = now() + make_interval(secs => $2)
FROM due
WHERE e.id = due.endpoint_id AND (e.leased_until IS NULL OR e.leased_until <= now())
RETURNING e.id, e.url, e.secret
"""

_PENDING_OF_ENDPOINT = """
SELECT d.id AS delivery_id, d.attempts, d.next_attempt_at <= now() AS due,
       extract(epoch FROM now() - d.created)::float8 AS age_s, d.traceparent,
       v.id, v.type, v.created, v.data
FROM webhook_deliveries d JOIN events v ON v.id = d.event_id
WHERE d.endpoint_id = $1 AND d.status = 'pending'
ORDER BY v.seq LIMIT $2
"""

_RECORD = """
WITH renewed AS (
    UPDATE webhook_endpoints SET leased_until = now() + make_interval(secs => $6) WHERE id = $5
)
UPDATE webhook_deliveries
SET status = $2, attempts = attempts + 1, last_error = $3,
    next_attempt_at = now() + make_interval(secs => $4)
WHERE id = $1
"""


async def plan_deliveries(event: Event, tx: PostgresTx) -> None:
    """Consumer handler: one pending delivery per endpoint that wants this event, in the
    event's trace (the consumer span's context, stored with the row)."""
    row = await tx.fetchrow("SELECT merchant_id, type FROM events WHERE id = $1", event.id)
    if row is None:
        log.warning("webhook_event_missing", event_id=event.id)
        return
    endpoints = await tx.fetch(
        "SELECT id, enabled_events FROM webhook_endpoints WHERE merchant_id = $1",
        row["merchant_id"],
    )
    for endpoint in endpoints:
        if wants(json.loads(endpoint["enabled_events"]), row["type"]):
            await tx.execute(
                "INSERT INTO webhook_deliveries (endpoint_id, event_id, traceparent) "
                "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                endpoint["id"],
                event.id,
                tracing.current_traceparent(),
            )


@dataclass
class WebhookMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.deliveries = Counter(
            "payments_webhook_deliveries",
            "Webhook delivery tries, by outcome (delivered, retrying, failed: given up)",
            ["outcome"],
            registry=self.registry,
        )
        self.seconds = Histogram(
            "payments_webhook_request_seconds",
            "One webhook request, name lookup to status",
            buckets=(*LATENCY_BUCKETS, 10.0, 30.0),
            registry=self.registry,
        )


@dataclass
class WebhookSender:
    """Starts a delivery run per due endpoint on each :meth:`tick`, without waiting for them."""

    pool: "asyncpg.Pool[asyncpg.Record]"
    http: httpx.AsyncClient
    timeout_s: float = 10.0
    backoff: Backoff = field(default_factory=Backoff)
    concurrency: int = 64
    allow_private: bool = False
    resolver: Resolver = system_resolver
    rng: random.Random = field(default_factory=random.Random)
    metrics: WebhookMetrics = field(default_factory=WebhookMetrics)
    _running: dict[str, "asyncio.Task[None]"] = field(default_factory=dict)

    @property
    def lease_s(self) -> float:
        # Renewed after every delivery, so it only has to outlast one request.
        return self.timeout_s + LEASE_MARGIN_S

    async def tick(self) -> int:
        """Claim due endpoints that no run here holds (up to the free concurrency) and start
        a run for each; returns how many were started."""
        free = self.concurrency - len(self._running)
        if free <= 0:
            return 0
        async with self.pool.acquire() as conn:
            claimed = await conn.fetch(
                _CLAIM_DUE_ENDPOINTS, free, self.lease_s, list(self._running)
            )
        for endpoint in claimed:
            endpoint_id = str(endpoint["id"])
            task = asyncio.create_task(self._run(endpoint), name=f"webhooks:{endpoint_id}")
            self._running[endpoint_id] = task
            task.add_done_callback(partial(self._finished, endpoint_id))
        return len(claimed)

    def _finished(self, endpoint_id: str, _: "asyncio.Task[None]") -> None:
        self._running.pop(endpoint_id, None)

    async def wait_idle(self) -> None:
        """Wait for the runs in flight (tests and shutdown)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._running.values()):
            task.cancel()
        await self.wait_idle()

    async def _run(self, endpoint: asyncpg.Record) -> None:
        try:
            async with self.pool.acquire() as conn:
                pending = await conn.fetch(_PENDING_OF_ENDPOINT, endpoint["id"], RUN_BATCH)
            for delivery in pending:
                # Stop at the first failure or the first delivery still backing off: the
                # rest must not overtake it.
                if not delivery["due"] or not await self._deliver(endpoint, delivery):
                    break
        except Exception:
            log.exception("webhook_run_failed", endpoint_id=endpoint["id"])
        finally:
            with contextlib.suppress(Exception):
                async with self.pool.acquire() as conn:
                    await conn.execute(
                        "UPDATE webhook_endpoints SET leased_until = NULL WHERE id = $1",
                        endpoint["id"],
                    )

    async def _deliver(self, endpoint: asyncpg.Record, delivery: asyncpg.Record) -> bool:
        attributes: tracing.Attributes = {
            "payments.webhook.endpoint.id": str(endpoint["id"]),
            "payments.webhook.delivery.id": int(delivery["delivery_id"]),
            "payments.webhook.attempt": int(delivery["attempts"]) + 1,
            "payments.event.id": str(delivery["id"]),
            "payments.event.type": str(delivery["type"]),
        }
        with tracing.span(
            "payments.webhook.deliver", parent=delivery["traceparent"], attributes=attributes
        ):
            return await self._deliver_in_span(endpoint, delivery)

    async def _deliver_in_span(self, endpoint: asyncpg.Record, delivery: asyncpg.Record) -> bool:
        event = dict(delivery)
        event["data"] = json.loads(event["data"])
        payload = json.dumps(objects.event(event)).encode()
        started = time.monotonic()
        error = await self._post(endpoint["url"], endpoint["secret"], payload)
        self.metrics.seconds.observe(time.monotonic() - started)
        status, delay = "delivered", 0.0
        if error is not None:
            attempts = delivery["attempts"] + 1
            next_delay = self.backoff.delay_s(attempts, delivery["age_s"], self.rng.random())
            status, delay = ("pending", next_delay) if next_delay is not None else ("failed", 0)
            log.warning("webhook_delivery_failed", endpoint_id=endpoint["id"],
                        event_id=delivery["id"], attempts=attempts, error=error,
                        retry_in_s=round(delay, 1), status=status)  # fmt: skip
        else:
            log.info("webhook_delivered", endpoint_id=endpoint["id"], event_id=delivery["id"],
                     attempts=delivery["attempts"] + 1)  # fmt: skip
        tracing.set_attribute("payments.webhook.outcome", status)
        self.metrics.deliveries.labels("retrying" if status == "pending" else status).inc()
        async with self.pool.acquire() as conn:
            await conn.execute(_RECORD, delivery["delivery_id"], status, error, delay,
                               endpoint["id"], self.lease_s)  # fmt: skip
        return error is None

    async def _post(self, url: str, secret: str, payload: bytes) -> str | None:
        """POST one signed event; the error that makes it a failure, or ``None``."""
        try:
            # One deadline for all of it, the name lookup included: httpx's timeouts are per
            # read, so a receiver dripping a byte at a time would otherwise hold the run.
            async with asyncio.timeout(self.timeout_s):
                return await self._attempt(url, secret, payload)
        except TimeoutError:
            return f"timed out after {self.timeout_s:g}s"

    async def _attempt(self, url: str, secret: str, payload: bytes) -> str | None:
        try:
            # Resolved and checked again for each delivery: the name may point elsewhere now.
            target = await resolve_target(
                url, allow_private=self.allow_private, resolver=self.resolver
            )
        except TargetRefused as exc:
            return f"refused: {exc}"
        headers = target.headers | {
            "content-type": "application/json",
            "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "stripe-signature": signature_header(payload, secret, int(time.time())),
        }
        request = self.http.build_request(
            "POST", target.url, content=payload, headers=headers, extensions=target.extensions
        )
        try:
            # The status is all we need; the body is never read (it could be huge).
            response = await self.http.send(request, stream=True)
            await response.aclose()
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        if not 200 <= response.status_code < 300:
            # Redirects are not followed: a 3xx is a failure like any other.
            return f"HTTP {response.status_code}"
        return None


def webhook_client(concurrency: int, timeout_s: float) -> httpx.AsyncClient:
    """The HTTP client deliveries go through: no redirects, nothing from the environment (no
    proxy, no CA bundle: a merchant's TLS is checked against the default roots). The address
    each request connects to is pinned per request (:func:`payments.targets.resolve_target`)."""
    # No connection retry: a failed try is the delivery's to retry, on its backoff.
    return internal_client(timeout_s, max_connections=concurrency * 2, retries=0, trust_env=False)
