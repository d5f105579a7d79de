"""Rows rendered as Stripe API objects."""

from typing import Any

from payments.store import Row

API_VERSION = "2024-06-20"


def payment_intent(row: Row) -> dict[str, Any]:
    card = None
    if row.get("card_number"):
        card = {"brand": row["card_brand"], "last4": row["card_number"][-4:]}
    return {
        "id": row["id"],
        "object": "payment_intent",
        "amount": row["amount"],
        "amount_capturable": row["amount_capturable"],
        "amount_received": row["amount_received"],
        "amount_refunded": row["amount_refunded"],
        "canceled_at": row["canceled_at"],
        "cancellation_reason": row["cancellation_reason"],
        "capture_method": row["capture_method"],
        "client_secret": f"{row['id']}_secret_local",
        "confirmation_method": "automatic",
        "created": row["created"],
        "currency": row["currency"],
        "description": row["description"],
        "last_payment_error": row["last_payment_error"],
        "latest_charge": row["latest_attempt"],
        "livemode": False,
        "metadata": row["metadata"] or {},
        "payment_method": row["payment_method"],
        "payment_method_details": {"type": "card", "card": card} if card else None,
        "payment_method_types": ["card"],
        "status": row["status"],
    }


def refund(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "refund",
        "amount": row["amount"],
        "charge": None,
        "created": row["created"],
        "currency": row["currency"],
        "metadata": row["metadata"] or {},
        "payment_intent": row["intent_id"],
        "reason": row["reason"],
        "status": row["status"],
    }


def event(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "event",
        "api_version": API_VERSION,
        "created": row["created"],
        "data": row["data"],
        "livemode": False,
        "pending_webhooks": 0,
        "request": {"id": None, "idempotency_key": None},
        "type": row["type"],
    }


def webhook_endpoint(row: Row, *, with_secret: bool = False) -> dict[str, Any]:
    rendered = {
        "id": row["id"],
        "object": "webhook_endpoint",
        "created": row["created"],
        "enabled_events": row["enabled_events"],
        "livemode": False,
        "status": "enabled",
        "url": row["url"],
    }
    if with_secret:
        rendered["secret"] = row["secret"]
    return rendered


def listing(url: str, data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}
