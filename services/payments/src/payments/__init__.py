"""Stripe's payments: idempotency keys, a state machine, serializable Postgres, an outbox."""
