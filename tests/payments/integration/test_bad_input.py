"""Bad input through the official stripe SDK and raw HTTP: a NUL byte in any field, integers past
64 bits and absurd nesting are Stripe-style 400s naming the parameter, never a 500."""

import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import stripe

from devstack.stack import NativeStack

pytestmark = pytest.mark.integration

NUL = "a\x00b"


@dataclass
class Merchant:
    client: stripe.StripeClient
    http: httpx.Client


@pytest.fixture(scope="module")
def merchant(origins: NativeStack) -> Iterator[Merchant]:
    base_url = origins.url("payments")
    created = httpx.post(f"{base_url}/dev/merchants", json={"name": "bad input"}, timeout=30)
    secret = created.json()["secret_key"]
    client = stripe.StripeClient(secret, base_addresses={"api": base_url}, max_network_retries=0)
    headers = {"authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as http:
        yield Merchant(client, http)


def _sdk_calls(client: stripe.StripeClient) -> dict[str, Callable[[], Any]]:
    intents = client.v1.payment_intents
    return {
        "intent_id": lambda: intents.retrieve(f"pi_{NUL}"),
        "intent_id (update)": lambda: intents.update(f"pi_{NUL}", params={"amount": 10}),
        "intent_id (confirm)": lambda: intents.confirm(f"pi_{NUL}"),
        "refund_id": lambda: client.v1.refunds.retrieve(f"re_{NUL}"),
        "event_id": lambda: client.v1.events.retrieve(f"evt_{NUL}"),
        "starting_after": lambda: intents.list(params={"starting_after": f"pi_{NUL}"}),
        "ending_before": lambda: client.v1.refunds.list(params={"ending_before": NUL}),
        "metadata": lambda: intents.create(
            params={"amount": 100, "currency": "usd", "metadata": {"k": NUL}}
        ),
        "metadata key": lambda: intents.create(
            params={"amount": 100, "currency": "usd", "metadata": {NUL: "v"}}
        ),
        "description": lambda: intents.create(
            params={"amount": 100, "currency": "usd", "description": NUL}
        ),
        "payment_method": lambda: intents.create(
            params={"amount": 100, "currency": "usd", "payment_method": NUL, "confirm": True}
        ),
        "refund payment_intent": lambda: client.v1.refunds.create(
            params={"payment_intent": f"pi_{NUL}"}
        ),
        "webhook url": lambda: client.v1.webhook_endpoints.create(
            params={"url": f"https://example.com/{NUL}", "enabled_events": ["*"]}
        ),
        "webhook description": lambda: client.v1.webhook_endpoints.create(
            params={"url": "https://example.com/h", "enabled_events": ["*"], "description": NUL}
        ),
        "idempotency key": lambda: intents.create(
            params={"amount": 100, "currency": "usd"}, options={"idempotency_key": NUL}
        ),
    }


@pytest.mark.parametrize("field", list(_sdk_calls(stripe.StripeClient("sk_x"))))
def test_a_nul_byte_through_the_stripe_sdk_is_a_400(merchant: Merchant, field: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        _sdk_calls(merchant.client)[field]()
    assert raised.value.http_status == 400, raised.value
    assert raised.value.error is not None and raised.value.error.type == "invalid_request_error"
    # A NUL in a header never reaches the app: the HTTP parser refuses it, in the same shape.
    assert "NUL" in str(raised.value.user_message) or raised.value.code == "malformed_request"


def test_a_nul_byte_in_the_development_merchant_name_is_a_400(origins: NativeStack) -> None:
    answer = httpx.post(f"{origins.url('payments')}/dev/merchants", json={"name": NUL})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == "name"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("[" * 10_000 + "]" * 10_000, "application/json"),
        ('{"metadata":' * 10_000 + "{}" + "}" * 10_000, "application/json"),
        ('{"amount": 100000000000000000000000, "currency": "usd"}', "application/json"),
        ('{"amount": 100, "currency": "usd", "description": "a\\u0000b"}', "application/json"),
        (
            "amount=100&currency=usd&metadata" + "[a]" * 5_000 + "=1",
            "application/x-www-form-urlencoded",
        ),
        ("amount=100&currency=usd&description=a%00b", "application/x-www-form-urlencoded"),
    ],
    ids=[
        "json-array-10k-deep",
        "json-object-10k-deep",
        "json-int-past-64-bits",
        "json-nul",
        "form-key-5k-deep",
        "form-nul",
    ],
)
def test_raw_bodies_are_400s_in_stripes_shape(
    merchant: Merchant, body: str, content_type: str
) -> None:
    answer = merchant.http.post(
        "/v1/payment_intents", content=body, headers={"content-type": content_type}
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["type"] == "invalid_request_error"


def test_a_nul_byte_in_an_api_key_sent_on_a_raw_socket_is_a_400(origins: NativeStack) -> None:
    """httpx refuses to send it; a client that does gets the stack's error shape from uvicorn's
    parser (stackkit.parse_errors), not a text/plain 400 and not the key lookup's 500."""
    target = urlsplit(origins.url("payments"))
    request = (
        b"GET /v1/payment_intents HTTP/1.1\r\nhost: x\r\nauthorization: Bearer sk_\x00x\r\n"
        b"connection: close\r\n\r\n"
    )
    with socket.create_connection((target.hostname, target.port), timeout=30) as conn:
        conn.sendall(request)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"400", received[:300]
    assert b"application/json" in head.lower()
    error = json.loads(body)["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "malformed_request")
