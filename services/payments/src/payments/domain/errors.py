"""Stripe-shaped domain errors; the API maps them to status codes and bodies."""

from stackkit.errors import Conflict, Invalid, NotFound


class InvalidRequest(Invalid):
    """400 invalid_request_error; ``code`` is Stripe's (parameter_missing, amount_too_small...)."""


class UnexpectedState(Invalid):
    code = "payment_intent_unexpected_state"


class ResourceMissing(NotFound):
    code = "resource_missing"


class IdempotencyMismatch(Invalid):
    error_type = "idempotency_error"
    code = "idempotency_key_reused"


class IdempotencyInFlight(Conflict):
    error_type = "idempotency_error"
    code = "idempotency_key_in_use"
