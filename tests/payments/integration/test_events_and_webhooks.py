"""Every state change leaves through the outbox: to Kafka, and to webhooks stripe can verify."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import asyncpg
import pytest
import stripe
from aiokafka import ConsumerRecord

from devstack.processes import free_port
from devstack.stack import NativeStack
from tests.kafka_reading import read_topic
from tests.payments.integration.conftest import Merchant, new_merchant
from tests.waiting import eventually

pytestmark = pytest.mark.e2e


class Receiver:
    """A webhook endpoint that fails its first delivery, to prove retries."""

    def __init__(self) -> None:
        self.port = free_port()
        self.calls: list[tuple[bytes, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.calls.append((body, self.headers.get("stripe-signature", "")))
                self.send_response(500 if len(receiver.calls) == 1 else 200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.server.shutdown()


async def test_events_are_delivered_as_verifiable_webhooks_with_retries(
    payments_stack: NativeStack, receiver: Receiver
) -> None:
    merchant = new_merchant(payments_stack, "webhook-retry", direct=True)
    endpoint = merchant.client.v1.webhook_endpoints.create(
        params={"url": receiver.url, "enabled_events": ["payment_intent.succeeded"]}
    )
    secret = endpoint.secret
    assert secret is not None and secret.startswith("whsec_")
    paid = merchant.client.v1.payment_intents.create(
        params={
            "amount": 4100,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )

    async def delivered_after_a_retry() -> bool:
        return len(receiver.calls) >= 2

    await eventually(delivered_after_a_retry, timeout_s=30, what="a webhook delivery and its retry")
    payload, signature = receiver.calls[-1]
    event = stripe.Webhook.construct_event(payload.decode(), signature, secret)
    assert event.type == "payment_intent.succeeded"
    assert event.data.object["id"] == paid.id
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload.decode(), signature, "whsec_wrong")
    assert receiver.calls[0][0] == payload, "the retry re-sends the same event"
    # Counting calls alone passed while the worker re-sent one event every second for ever:
    # once the delivery is recorded, nothing more may arrive.
    conn = await asyncpg.connect(payments_stack.servers.postgres.url("payments"))
    try:

        async def recorded() -> bool:
            status = await conn.fetchval(
                "SELECT status FROM webhook_deliveries WHERE endpoint_id = $1", endpoint.id
            )
            return bool(status == "delivered")

        await eventually(recorded, timeout_s=30, what="the delivery recorded as delivered")
    finally:
        await conn.close()
    assert len(receiver.calls) == 2, "one failure, one success, nothing after"


async def test_the_outbox_relay_publishes_every_event_to_kafka(
    native_stack: NativeStack, merchant: Merchant
) -> None:
    paid = merchant.client.v1.payment_intents.create(
        params={"amount": 800, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )

    def event_type_of_this_payment(record: ConsumerRecord[bytes, bytes]) -> str | None:
        envelope = json.loads(record.value)
        return str(envelope["type"]) if envelope["data"]["object"]["id"] == paid.id else None

    seen = await read_topic(
        native_stack.servers.kafka.bootstrap_servers,
        "payments.events",
        event_type_of_this_payment,
        count=2,
    )
    assert sorted(seen) == ["payments.payment_intent.created", "payments.payment_intent.succeeded"]
