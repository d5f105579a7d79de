"""Payments driven by the official stripe SDK through the edge, against real Postgres and Kafka."""

import asyncio
import uuid

import asyncpg
import httpx
import pytest
import stripe

from devstack.stack import NativeStack
from tests.payments.integration.conftest import Merchant, acquirer_stats, new_merchant, set_profile

pytestmark = pytest.mark.e2e


def test_create_then_confirm_with_automatic_capture(merchant: Merchant) -> None:
    intents = merchant.client.v1.payment_intents
    intent = intents.create(
        params={"amount": 2000, "currency": "usd", "metadata": {"order_id": "6735"}}
    )
    assert intent.id.startswith("pi_") and intent.object == "payment_intent"
    assert (intent.status, intent.livemode, intent.metadata["order_id"]) == (
        "requires_payment_method",
        False,
        "6735",
    )
    confirmed = intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    assert (confirmed.status, confirmed.amount_received) == ("succeeded", 2000)
    assert intents.retrieve(intent.id).status == "succeeded"


def test_manual_capture_partial_and_cancel(merchant: Merchant) -> None:
    intents = merchant.client.v1.payment_intents
    held = intents.create(params={"amount": 5000, "currency": "eur", "payment_method": "pm_card_mastercard",
                                  "confirm": True, "capture_method": "manual"})  # fmt: skip
    assert (held.status, held.amount_capturable) == ("requires_capture", 5000)
    captured = intents.capture(held.id, params={"amount_to_capture": 3000})
    assert (captured.status, captured.amount_received, captured.amount_capturable) == (
        "succeeded",
        3000,
        0,
    )
    other = intents.create(params={"amount": 700, "currency": "eur", "payment_method": "pm_card_visa",
                                   "confirm": True, "capture_method": "manual"})  # fmt: skip
    canceled = intents.cancel(other.id, params={"cancellation_reason": "requested_by_customer"})
    assert (canceled.status, canceled.cancellation_reason) == ("canceled", "requested_by_customer")


def test_update_then_confirm(merchant: Merchant) -> None:
    intents = merchant.client.v1.payment_intents
    intent = intents.create(params={"amount": 1000, "currency": "gbp"})
    updated = intents.update(
        intent.id,
        params={"amount": 1500, "metadata": {"cart": "3"}, "payment_method": "pm_card_amex"},
    )
    assert (updated.amount, updated.status, updated.metadata["cart"]) == (
        1500,
        "requires_confirmation",
        "3",
    )
    assert intents.confirm(intent.id).status == "succeeded"


def test_illegal_transitions_are_400s_with_a_clear_message(merchant: Merchant) -> None:
    intents = merchant.client.v1.payment_intents
    paid = intents.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    with pytest.raises(stripe.InvalidRequestError) as error:
        intents.capture(paid.id)
    assert error.value.http_status == 400
    assert error.value.code == "payment_intent_unexpected_state"
    assert "status of succeeded" in str(error.value.user_message)
    with pytest.raises(stripe.InvalidRequestError):
        intents.cancel(paid.id)


@pytest.mark.parametrize(
    ("token", "decline_code"),
    [("pm_card_chargeDeclined", "generic_decline"), ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
     ("pm_card_chargeDeclinedTryAgainLater", "try_again_later")],
)  # fmt: skip
def test_declines_are_card_errors_and_leave_the_intent_retryable(
    merchant: Merchant, token: str, decline_code: str
) -> None:
    intents = merchant.client.v1.payment_intents
    with pytest.raises(stripe.CardError) as error:
        intents.create(
            params={"amount": 1200, "currency": "usd", "payment_method": token, "confirm": True}
        )
    assert error.value.http_status == 402
    assert error.value.code == "card_declined"
    details = error.value.error
    assert details is not None and details.decline_code == decline_code
    assert details.payment_intent is not None
    intent_id = details.payment_intent["id"]
    failed = intents.retrieve(intent_id)
    assert failed.status == "requires_payment_method"
    assert failed.last_payment_error is not None
    assert failed.last_payment_error.decline_code == decline_code
    assert (
        intents.confirm(intent_id, params={"payment_method": "pm_card_visa"}).status == "succeeded"
    )


def test_list_pagination_with_cursors(merchant: Merchant) -> None:
    intents = merchant.client.v1.payment_intents
    created = [intents.create(params={"amount": 100 + n, "currency": "usd"}).id for n in range(5)]
    first = intents.list(params={"limit": 2})
    assert [i.id for i in first.data] == created[::-1][:2] and first.has_more
    second = intents.list(params={"limit": 2, "starting_after": first.data[-1].id})
    assert [i.id for i in second.data] == created[::-1][2:4]
    back = intents.list(params={"limit": 2, "ending_before": second.data[0].id})
    assert [i.id for i in back.data] == [i.id for i in first.data]
    everything = [i.id for i in intents.list(params={"limit": 2}).auto_paging_iter()]
    assert everything == created[::-1]


def test_refunds_partial_full_and_listed(merchant: Merchant) -> None:
    client = merchant.client.v1
    paid = client.payment_intents.create(
        params={
            "amount": 3000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    partial = client.refunds.create(params={"payment_intent": paid.id, "amount": 1000})
    assert (partial.object, partial.status, partial.amount) == ("refund", "succeeded", 1000)
    rest = client.refunds.create(params={"payment_intent": paid.id})
    assert rest.amount == 2000
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.refunds.create(params={"payment_intent": paid.id, "amount": 1})
    assert error.value.param == "amount"
    assert client.refunds.retrieve(partial.id).amount == 1000
    listed = client.refunds.list(params={"payment_intent": paid.id})
    assert sorted(r.amount for r in listed.data) == [1000, 2000]
    assert client.payment_intents.retrieve(paid.id)["amount_refunded"] == 3000


def test_events_record_every_state_change(merchant: Merchant) -> None:
    client = merchant.client.v1
    paid = client.payment_intents.create(
        params={"amount": 900, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )
    events = [
        e for e in client.events.list(params={"limit": 100}).data if e.data.object["id"] == paid.id
    ]
    assert [e.type for e in events] == ["payment_intent.succeeded", "payment_intent.created"]
    assert client.events.retrieve(events[0].id).data.object["status"] == "succeeded"


def test_merchants_cannot_see_each_others_objects(
    native_stack: NativeStack, merchant: Merchant
) -> None:
    other = new_merchant(native_stack, "other")
    mine = merchant.client.v1.payment_intents.create(params={"amount": 500, "currency": "usd"})
    with pytest.raises(stripe.InvalidRequestError) as error:
        other.client.v1.payment_intents.retrieve(mine.id)
    assert error.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError):
        other.client.v1.payment_intents.cancel(mine.id)
    assert mine.id not in [i.id for i in other.client.v1.payment_intents.list().data]


def test_a_missing_or_wrong_key_is_a_401(merchant: Merchant) -> None:
    wrong = stripe.StripeClient("sk_test_wrong", base_addresses={"api": merchant.base_url})
    with pytest.raises(stripe.AuthenticationError):
        wrong.v1.payment_intents.list()
    assert httpx.get(f"{merchant.base_url}/v1/payment_intents").status_code == 401
    basic = httpx.get(f"{merchant.base_url}/v1/payment_intents", auth=(merchant.secret_key, ""))
    assert basic.status_code == 200, "curl -u sk_test_...: works as with Stripe"


# -- idempotency -------------------------------------------------------------------------------


def test_a_retry_returns_the_stored_response_byte_for_byte(merchant: Merchant) -> None:
    with merchant.http() as http:
        headers = {"idempotency-key": f"k-{uuid.uuid4()}"}
        body = {
            "amount": "2500",
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": "true",
        }
        first = http.post("/v1/payment_intents", data=body, headers=headers)
        second = http.post("/v1/payment_intents", data=body, headers=headers)
        assert first.status_code == second.status_code == 200
        assert first.content == second.content
        declined = {**body, "payment_method": "pm_card_chargeDeclined"}
        key = {"idempotency-key": f"k-{uuid.uuid4()}"}
        assert http.post("/v1/payment_intents", data=declined, headers=key).status_code == 402
        again = http.post("/v1/payment_intents", data=declined, headers=key)
        assert again.status_code == 402, "a stored decline is replayed, not retried"


def test_the_same_key_with_other_parameters_is_an_idempotency_error(merchant: Merchant) -> None:
    key = f"k-{uuid.uuid4()}"
    intents = merchant.client.v1.payment_intents
    intents.create(params={"amount": 1000, "currency": "usd"}, options={"idempotency_key": key})
    with pytest.raises(stripe.IdempotencyError) as error:
        intents.create(params={"amount": 1001, "currency": "usd"}, options={"idempotency_key": key})
    assert error.value.http_status == 400


async def test_a_hundred_concurrent_identical_requests_charge_once(
    native_stack: NativeStack, merchant: Merchant, acquirers: dict[str, str]
) -> None:
    for url in acquirers.values():
        set_profile(url, latency_ms=300)  # a wide in-flight window for the other 99
    before = acquirer_stats(acquirers)
    key = f"k-{uuid.uuid4()}"
    body = {"amount": "4200", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true",
            "metadata[run]": key}  # fmt: skip
    headers = {"authorization": f"Bearer {merchant.secret_key}", "idempotency-key": key}
    async with httpx.AsyncClient(base_url=merchant.base_url, timeout=60) as http:
        responses = await asyncio.gather(
            *(http.post("/v1/payment_intents", data=body, headers=headers) for _ in range(100))
        )
    statuses = [r.status_code for r in responses]
    assert set(statuses) == {200, 409}, [
        r.text for r in responses if r.status_code not in (200, 409)
    ][:3]
    bodies = {r.content for r in responses if r.status_code == 200}
    assert len(bodies) == 1
    after = acquirer_stats(acquirers)
    assert after["authorizations"] - before["authorizations"] == 1
    conn = await asyncpg.connect(native_stack.servers.postgres.url("payments"))
    try:
        count = await conn.fetchval(
            "SELECT count(*) FROM payment_intents WHERE metadata->>'run' = $1", key
        )
    finally:
        await conn.close()
    assert count == 1


async def test_fifty_concurrent_refunds_never_over_refund(
    native_stack: NativeStack, merchant: Merchant
) -> None:
    paid = merchant.client.v1.payment_intents.create(
        params={
            "amount": 10_000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    headers = {"authorization": f"Bearer {merchant.secret_key}"}
    async with httpx.AsyncClient(base_url=merchant.base_url, timeout=60, headers=headers) as http:
        responses = await asyncio.gather(
            *(
                http.post("/v1/refunds", data={"payment_intent": paid.id, "amount": "700"})
                for _ in range(50)
            )
        )
    succeeded = [r for r in responses if r.status_code == 200]
    assert {r.status_code for r in responses} <= {200, 400}
    assert len(succeeded) == 10_000 // 700
    conn = await asyncpg.connect(native_stack.servers.postgres.url("payments"))
    try:
        refunded = await conn.fetchval(
            "SELECT sum(amount) FROM refunds WHERE intent_id = $1", paid.id
        )
        balance = await conn.fetchval(
            "SELECT sum(amount) FROM ledger_entries WHERE intent_id = $1", paid.id
        )
    finally:
        await conn.close()
    assert refunded == 700 * len(succeeded) <= 10_000
    assert balance == 0


# -- acquirers: routing, smart retries, timeouts -----------------------------------------------


def test_soft_declines_are_retried_on_another_acquirer(
    merchant: Merchant, acquirers: dict[str, str]
) -> None:
    first, second = acquirers
    set_profile(acquirers[first], soft_decline_rate=1.0)
    set_profile(acquirers[second], soft_decline_rate=0.0)
    intents = merchant.client.v1.payment_intents
    results = [
        intents.create(
            params={
                "amount": 1500,
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "confirm": True,
            }
        )
        for _ in range(8)
    ]
    assert {r.status for r in results} == {"succeeded"}


def test_hard_declines_are_never_retried(merchant: Merchant, acquirers: dict[str, str]) -> None:
    before = acquirer_stats(acquirers)
    with pytest.raises(stripe.CardError):
        merchant.client.v1.payment_intents.create(
            params={
                "amount": 1500,
                "currency": "usd",
                "payment_method": "pm_card_chargeDeclinedInsufficientFunds",
                "confirm": True,
            }
        )
    assert acquirer_stats(acquirers)["authorizations"] - before["authorizations"] == 1


def test_an_acquirer_timeout_is_reconciled_not_left_unknown(
    merchant: Merchant, acquirers: dict[str, str]
) -> None:
    for url in acquirers.values():
        set_profile(url, hang_s=5)
    before = acquirer_stats(acquirers)
    paid = merchant.client.v1.payment_intents.create(
        params={
            "amount": 1700,
            "currency": "usd",
            "payment_method": "pm_card_acquirerTimeout",
            "confirm": True,
        }
    )
    assert paid.status == "succeeded", "the acquirer approved; reconciliation found out"
    assert acquirer_stats(acquirers)["approved"] - before["approved"] == 1


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"currency": "usd"}, "amount"),
        ({"amount": "-100", "currency": "usd"}, "amount"),
        ({"amount": "99999999999999999999", "currency": "usd"}, "amount"),
        ({"amount": "abc", "currency": "usd"}, "amount"),
        ({"amount": "1000", "currency": "zzz"}, "currency"),
        ({"amount": "1000", "currency": "usd", "surprise": "1"}, "surprise"),
        ({"amount": "1000", "currency": "usd", "confirm": "maybe"}, "confirm"),
        (
            {
                "amount": "1000",
                "currency": "usd",
                "payment_method": "pm_card_nope",
                "confirm": "true",
            },
            "payment_method",
        ),
    ],
)
def test_bad_input_is_a_4xx_naming_the_parameter(
    merchant: Merchant, body: dict[str, str], param: str
) -> None:
    with merchant.http() as http:
        response = http.post("/v1/payment_intents", data=body)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["param"] == param


@pytest.mark.parametrize(
    ("content", "content_type"),
    [(b"metadata[=x", "application/x-www-form-urlencoded"), (b"{broken", "application/json"),
     (b"amount=" + b"9" * 70_000, "application/x-www-form-urlencoded")],
)  # fmt: skip
def test_malformed_and_oversized_bodies_are_400s(
    merchant: Merchant, content: bytes, content_type: str
) -> None:
    with merchant.http() as http:
        response = http.post(
            "/v1/payment_intents", content=content, headers={"content-type": content_type}
        )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_the_legacy_global_configuration_works_too(merchant: Merchant) -> None:
    stripe.api_key, stripe.api_base = merchant.secret_key, merchant.base_url
    try:
        intent = stripe.PaymentIntent.create(
            amount=1300, currency="usd", payment_method="pm_card_visa", confirm=True
        )
        assert stripe.PaymentIntent.retrieve(intent.id).status == "succeeded"
    finally:
        stripe.api_key, stripe.api_base = None, "https://api.stripe.com"


async def test_every_transition_is_recorded_and_the_books_balance(
    native_stack: NativeStack, merchant: Merchant
) -> None:
    intents = merchant.client.v1.payment_intents
    held = intents.create(params={"amount": 2200, "currency": "usd", "payment_method": "pm_card_visa",
                                  "confirm": True, "capture_method": "manual"})  # fmt: skip
    intents.capture(held.id, params={"amount_to_capture": 2000})
    conn = await asyncpg.connect(native_stack.servers.postgres.url("payments"))
    try:
        moves = await conn.fetch(
            "SELECT from_status, to_status FROM payment_intent_transitions WHERE intent_id = $1 ORDER BY id",
            held.id,
        )
        total = await conn.fetchval("SELECT sum(amount) FROM ledger_entries")
        receivable = await conn.fetchval(
            "SELECT sum(amount) FROM ledger_entries WHERE intent_id = $1 AND account = 'acquirer_receivable'",
            held.id,
        )
    finally:
        await conn.close()
    assert [(m["from_status"], m["to_status"]) for m in moves] == [
        (None, "requires_payment_method"),
        ("requires_payment_method", "requires_confirmation"),
        ("requires_confirmation", "processing"),
        ("processing", "requires_capture"),
        ("requires_capture", "succeeded"),
    ]
    assert total == 0, "every posting in the whole ledger balances"
    assert receivable == 2000


async def test_routing_learns_to_prefer_the_acquirer_that_approves(
    native_stack: NativeStack, merchant: Merchant, acquirers: dict[str, str]
) -> None:
    bad, good = acquirers
    set_profile(acquirers[bad], soft_decline_rate=1.0)
    intents = merchant.client.v1.payment_intents
    ids = [
        intents.create(
            params={
                "amount": 999,
                "currency": "chf",
                "payment_method": "pm_card_amex",
                "confirm": True,
            }
        ).id
        for _ in range(30)
    ]
    conn = await asyncpg.connect(native_stack.servers.postgres.url("payments"))
    try:
        first_choices = await conn.fetch(
            "SELECT acquirer FROM charge_attempts WHERE number = 1 AND intent_id = ANY($1::text[])",
            ids[10:],
        )
    finally:
        await conn.close()
    to_good = sum(1 for row in first_choices if row["acquirer"] == good)
    assert to_good >= 13, f"after learning, most first attempts go to {good} ({to_good}/20)"


def test_payments_survive_a_dead_acquirer(
    native_stack: NativeStack, merchant: Merchant, acquirers: dict[str, str]
) -> None:
    dead = next(iter(acquirers))
    native_stack.kill(dead)
    try:
        results = [
            merchant.client.v1.payment_intents.create(
                params={
                    "amount": 1100,
                    "currency": "usd",
                    "payment_method": "pm_card_visa",
                    "confirm": True,
                }
            ).status
            for _ in range(5)
        ]
        assert set(results) == {"succeeded"}
    finally:
        native_stack.start([dead])
