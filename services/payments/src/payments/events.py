"""What payments publishes: Stripe's Event objects on ``payments.events`` (keyed by payment,
through the outbox), typed ``payments.<Stripe event type>``."""

from typing import Any, Literal, Self, get_args

from pydantic import Field

from stackkit.events import EventData, EventTypes
from stackkit.kafka import TopicSpec

PAYMENT_EVENTS = TopicSpec("payments.events")
TOPICS = [PAYMENT_EVENTS]

StripeEventType = Literal[
    "payment_intent.created",
    "payment_intent.amount_capturable_updated",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "refund.created",
    "charge.refunded",
]
"""The Stripe event types payments emits (what a webhook endpoint's ``enabled_events`` name)."""

TYPE_PREFIX = "payments."


class StripeEvent(EventData):
    """A Stripe Event object's twin on the backbone. Its envelope id is the Stripe event id
    (``evt_...``, the row in ``events``), so consumers dedupe on the id Stripe clients see."""

    TYPES = tuple(f"{TYPE_PREFIX}{stripe_type}" for stripe_type in get_args(StripeEventType))

    stripe_type: StripeEventType = Field(exclude=True)
    merchant_id: str
    created: int
    object: dict[str, Any]

    def event_type(self) -> str:
        return f"{TYPE_PREFIX}{self.stripe_type}"

    def subject(self) -> str:
        """The payment the object belongs to, so a payment's events stay in order."""
        return str(self.object.get("payment_intent") or self.object.get("id") or self.merchant_id)

    @classmethod
    def from_envelope(cls, event_type: str, data: dict[str, Any]) -> Self:
        return cls.model_validate({**data, "stripe_type": event_type.removeprefix(TYPE_PREFIX)})


EVENTS = EventTypes("payments", StripeEvent)
