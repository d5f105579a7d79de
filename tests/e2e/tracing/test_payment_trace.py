"""One payment, one trace: a PaymentIntent created and confirmed in one call of the official
stripe SDK through the edge is a single trace from the PoP to the merchant's webhook receiver.
The PoP's server span, payments' server span with its Postgres calls and its acquirer call
(httpx client span, the acquirer's server span), the outbox relay of the event's row (its parent
the row's stored traceparent), the Kafka publish and the webhook consumer's processing, the
webhook worker's delivery (its parent the delivery row's stored traceparent) and its POST, whose
``traceparent`` header the receiver sees; and the log lines of the payment, on payments and on
payments-worker, carry the trace's id."""

import json
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import stripe

from devstack.stack import NativeStack
from tests.e2e.tracing.shapes import described, log_lines, one, under
from tests.payments.integration.receivers import Call, Receiver
from tests.tracing.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.tracing.waterfall import draw, without_database_calls
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

EVENT = "payment_intent.succeeded"
TOPIC = "payments.events"
WEBHOOK_GROUP = "payments-webhooks"


def parent_of(traceparent: str | None) -> tuple[str, str]:
    """(trace id, span id) of a W3C ``traceparent``."""
    assert traceparent, "a traceparent was stored"
    _, trace_id, span_id, _ = traceparent.split("-")
    return trace_id, span_id


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """The merchant's webhook receiver, on loopback (allowed outside production)."""
    hooks = Receiver()
    yield hooks
    hooks.stop()


def succeeded_call(receiver: Receiver, intent_id: str) -> Call | None:
    for call in receiver.calls:
        event = json.loads(call.body)
        if event["type"] == EVENT and event["data"]["object"]["id"] == intent_id:
            return call
    return None


async def test_a_payment_is_one_trace_from_the_pop_to_the_webhook_receiver(
    traced_stack: NativeStack, spans: OtlpReceiver, receiver: Receiver, tmp_path: Path
) -> None:
    base_url = f"{traced_stack.edge_url}/payments"
    async with httpx.AsyncClient(timeout=10) as http:
        created = await http.post(f"{base_url}/dev/merchants", json={"name": "traced"})
    assert created.status_code == 200, created.text
    # No SDK retries: the payment is one request, so one trace.
    client = stripe.StripeClient(
        created.json()["secret_key"], base_addresses={"api": base_url}, max_network_retries=0
    )
    client.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": ["payment_intent.succeeded"]}
    )
    intent = client.v1.payment_intents.create(
        params={"amount": 4200, "currency": "usd", "payment_method": "pm_card_visa",
                "confirm": True}
    )  # fmt: skip
    assert intent.status == "succeeded"

    async def delivered() -> bool:
        return succeeded_call(receiver, intent.id) is not None

    await eventually(delivered, timeout_s=30, what=f"the webhook of {intent.id}")
    call = succeeded_call(receiver, intent.id)
    assert call is not None and call.traceparent, "the webhook POST carries a traceparent"
    trace_id, post_span_id = parent_of(call.traceparent)

    # The rows that carry the trace across the asynchronous hops.
    db = await asyncpg.connect(traced_stack.servers.postgres.url("payments"))
    try:
        event_id = await db.fetchval(
            "SELECT id FROM events WHERE type = $1 AND data->'object'->>'id' = $2",
            EVENT,
            intent.id,
        )
        outbox = await db.fetchrow(
            "SELECT id, traceparent FROM outbox WHERE position($1::bytea IN payload) > 0",
            event_id.encode(),
        )
        delivery_traceparent = await db.fetchval(
            "SELECT traceparent FROM webhook_deliveries WHERE event_id = $1", event_id
        )
    finally:
        await db.close()
    assert outbox is not None, f"the outbox row of {event_id}"

    # The POST's client span is the receiver's parent; it ends once the answer is back, so
    # every earlier hop has been exported by then or very soon after.
    await spans.wait_for(lambda s: s.span_id == post_span_id, what="the webhook POST's client span")
    # The other processes' spans ended earlier, but each process exports on its own schedule.
    servers = {"the PoP's": "edge", "payments'": "payments", "the acquirer's": "acquirer"}
    for what, service in servers.items():

        def server_of(s: ReceivedSpan, service: str = service) -> bool:
            return s.trace_id == trace_id and s.kind == "SERVER" and s.service.startswith(service)

        await spans.wait_for(server_of, what=f"{what} server span")
    trace = spans.trace(trace_id)

    pop = one(trace, "the PoP's server span", kind="SERVER", parent_span_id="")
    assert pop.service.startswith("edge-pop"), described(trace)
    api = one(trace, "payments' server span", kind="SERVER", service="payments")
    assert under(trace, api, pop), f"the PoP's fetch continues into payments:\n  {described(trace)}"
    assert api.name == "POST /v1/payment_intents"
    assert api.attributes.get("payments.intent.id") == intent.id

    queries = [
        s
        for s in trace
        if s.service == "payments" and s.attributes.get("db.system") == "postgresql"
    ]
    assert queries and all(under(trace, q, api) for q in queries), (
        f"payments' Postgres calls, in its request:\n  {described(trace)}"
    )

    acquirer = [s for s in trace if s.kind == "SERVER" and s.service.startswith("acquirer")]
    assert len(acquirer) == 1, f"one authorization at one acquirer:\n  {described(trace)}"
    assert acquirer[0].name == "POST /authorizations"
    by_id = {s.span_id: s for s in trace}
    acquirer_call = by_id.get(acquirer[0].parent_span_id)
    assert acquirer_call is not None and acquirer_call.kind == "CLIENT", described(trace)
    assert acquirer_call.service == "payments" and under(trace, acquirer_call, api)

    # The event's outbox row: staged in payments' request, relayed by the worker.
    assert parent_of(outbox["traceparent"])[0] == trace_id
    # Each row its own relay span (the request staged two: created, then succeeded).
    relays = [
        s
        for s in trace
        if s.name == f"outbox relay {TOPIC}" and s.attributes.get("outbox.id") == outbox["id"]
    ]
    assert len(relays) == 1, f"the relay of the event's row:\n  {described(trace)}"
    relay = relays[0]
    assert relay.parent_span_id == parent_of(outbox["traceparent"])[1]
    assert relay.service == "payments-worker"
    assert under(trace, relay, api)
    publish = one(trace, "the publish", name=f"{TOPIC} publish", parent_span_id=relay.span_id)
    assert publish.kind == "PRODUCER"
    consumed = [
        s
        for s in trace
        if s.kind == "CONSUMER"
        and s.parent_span_id == publish.span_id
        and s.attributes.get("messaging.consumer.group.name") == WEBHOOK_GROUP
    ]
    assert len(consumed) == 1, f"the webhook consumer's processing:\n  {described(trace)}"
    assert consumed[0].service == "payments-worker"

    # The delivery row keeps the consumer's context; its try is a span under it.
    assert parent_of(delivery_traceparent) == (trace_id, consumed[0].span_id)
    deliver = one(trace, "the delivery", name="payments.webhook.deliver")
    assert deliver.parent_span_id == consumed[0].span_id and deliver.service == "payments-worker"
    assert deliver.attributes["payments.event.id"] == event_id
    assert deliver.attributes["payments.webhook.outcome"] == "delivered"
    post = by_id[post_span_id]
    assert post.kind == "CLIENT" and post.parent_span_id == deliver.span_id, described(trace)

    # The log lines of the payment carry the trace's id, on both processes.
    logs = traced_stack.logs_dir()
    served = {line["event"] for line in log_lines(logs / "payments.log", trace_id)}
    worked = {line["event"] for line in log_lines(logs / "payments-worker.log", trace_id)}
    assert "request" in served, served
    assert "webhook_delivered" in worked, worked

    # Its picture (the README's, copied from here): every span has its times.
    assert all(0 < s.start_ns <= s.end_ns for s in trace)
    title = f"one payment through the edge, trace {trace_id} (database calls left out)"
    picture = draw(without_database_calls(trace), tmp_path / "payment-trace.png", title)
    print(f"the trace's waterfall: {picture}")
