"""Webhook rules: which endpoints get an event, Stripe's signature, and the retry schedule."""

import hashlib
import hmac
from collections.abc import Iterable

MAX_ATTEMPTS = 8
MAX_BACKOFF_S = 300


def signature_header(payload: bytes, secret: str, timestamp: int) -> str:
    """``Stripe-Signature: t=...,v1=...``, the HMAC-SHA256 of ``"{t}.{payload}"`` by secret."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def wants(enabled_events: Iterable[str], event_type: str) -> bool:
    return any(pattern in ("*", event_type) for pattern in enabled_events)


def next_delay_s(attempts: int) -> float | None:
    """Seconds until the next try after ``attempts`` failures; ``None`` once we give up."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return float(min(2 ** (attempts - 1), MAX_BACKOFF_S))
