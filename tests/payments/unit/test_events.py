"""Payments' events as code: Stripe's Event objects in the envelope, and back."""

from typing import Any, get_args

import pytest
from pydantic import ValidationError

from payments.events import EVENTS, StripeEvent, StripeEventType
from stackkit.events import Event, UnknownEventType

INTENT: dict[str, Any] = {"id": "pi_1", "object": "payment_intent", "amount": 800, "metadata": {}}
REFUND: dict[str, Any] = {"id": "re_1", "object": "refund", "payment_intent": "pi_1"}


def test_an_event_carries_the_stripe_event_id_type_and_object() -> None:
    twin = StripeEvent(
        stripe_type="payment_intent.succeeded", merchant_id="acct_1", created=7, object=INTENT
    )
    event = EVENTS.event(twin, event_id="evt_1")
    assert (event.id, event.type, event.source, event.subject) == (
        "evt_1",
        "payments.payment_intent.succeeded",
        "payments",
        "pi_1",
    )
    assert event.data == {"merchant_id": "acct_1", "created": 7, "object": INTENT}


@pytest.mark.parametrize(
    ("obj", "subject"),
    [
        (REFUND, "pi_1"),  # a refund is ordered with its payment
        (INTENT, "pi_1"),
        ({"object": "balance"}, "acct_1"),  # an object of no payment: the merchant's
    ],
)
def test_the_subject_is_the_payment_the_object_belongs_to(
    obj: dict[str, Any], subject: str
) -> None:
    twin = StripeEvent(stripe_type="refund.created", merchant_id="acct_1", created=1, object=obj)
    assert EVENTS.event(twin).subject == subject


@pytest.mark.parametrize("stripe_type", get_args(StripeEventType))
def test_every_stripe_type_travels_as_payments_dot_it_and_comes_back(stripe_type: str) -> None:
    twin = StripeEvent(stripe_type=stripe_type, merchant_id="acct_1", created=1, object=INTENT)
    event = EVENTS.event(twin, event_id="evt_2")
    assert event.type == f"payments.{stripe_type}"
    assert EVENTS.parse(Event.decode(event.encode())) == twin


def test_the_declared_types_are_the_stripe_types() -> None:
    assert EVENTS.names == {f"payments.{t}" for t in get_args(StripeEventType)}


def test_an_unknown_stripe_type_is_refused_both_ways() -> None:
    with pytest.raises(ValidationError):
        StripeEvent(stripe_type="charge.teleported", merchant_id="a", created=1, object={})
    with pytest.raises(UnknownEventType):
        EVENTS.parse(Event(type="payments.charge.teleported", source="payments", subject="x"))
    with pytest.raises(ValidationError):
        EVENTS.parse(Event(type="payments.refund.created", source="payments", subject="x", data={}))
