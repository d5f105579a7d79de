"""Stripe's payments: idempotency keys, a payment state machine, serializable Postgres, an outbox."""
