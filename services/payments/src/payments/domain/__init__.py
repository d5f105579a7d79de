"""Stripe's decisions as plain code: the payment state machine, money rules, test cards,
acquirer routing and smart retries, and the double-entry ledger. No I/O here."""
