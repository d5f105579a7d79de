-- The payments service's own database. Applied at start-up (idempotent).
CREATE TABLE IF NOT EXISTS merchants (
    id text PRIMARY KEY,
    name text NOT NULL,
    created timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS api_keys (
    key_hash text PRIMARY KEY,
    merchant_id text NOT NULL REFERENCES merchants (id),
    created timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS payment_intents (
    id text PRIMARY KEY,
    seq bigserial UNIQUE,
    merchant_id text NOT NULL REFERENCES merchants (id),
    amount bigint NOT NULL CHECK (amount > 0),
    currency text NOT NULL,
    status text NOT NULL,
    capture_method text NOT NULL,
    payment_method text,
    card_number text,
    card_brand text,
    region text NOT NULL,
    description text,
    metadata jsonb NOT NULL DEFAULT '{}',
    amount_capturable bigint NOT NULL DEFAULT 0,
    amount_received bigint NOT NULL DEFAULT 0,
    amount_refunded bigint NOT NULL DEFAULT 0 CHECK (amount_refunded <= amount_received),
    last_payment_error jsonb,
    canceled_at bigint,
    cancellation_reason text,
    latest_attempt text,
    confirmations int NOT NULL DEFAULT 0,
    created bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS payment_intents_by_merchant ON payment_intents (merchant_id, seq);
CREATE TABLE IF NOT EXISTS payment_intent_transitions (
    id bigserial PRIMARY KEY,
    intent_id text NOT NULL REFERENCES payment_intents (id),
    from_status text,
    to_status text NOT NULL,
    action text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS charge_attempts (
    id text PRIMARY KEY,
    intent_id text NOT NULL REFERENCES payment_intents (id),
    acquirer text NOT NULL,
    confirmation int NOT NULL,
    number int NOT NULL,
    status text NOT NULL,  -- pending, approved, declined, unreached, unknown
    decline_code text,
    created timestamptz NOT NULL DEFAULT now(),
    UNIQUE (intent_id, confirmation, number)
);
CREATE TABLE IF NOT EXISTS refunds (
    id text PRIMARY KEY,
    seq bigserial UNIQUE,
    merchant_id text NOT NULL REFERENCES merchants (id),
    intent_id text NOT NULL REFERENCES payment_intents (id),
    amount bigint NOT NULL CHECK (amount > 0),
    currency text NOT NULL,
    status text NOT NULL,
    reason text,
    metadata jsonb NOT NULL DEFAULT '{}',
    created bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger_entries (
    id bigserial PRIMARY KEY,
    merchant_id text NOT NULL,
    intent_id text NOT NULL,
    refund_id text,
    kind text NOT NULL,
    account text NOT NULL,
    amount bigint NOT NULL,
    posted timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS events (
    id text PRIMARY KEY,
    seq bigserial UNIQUE,
    merchant_id text NOT NULL,
    type text NOT NULL,
    created bigint NOT NULL,
    data jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    id bigserial PRIMARY KEY,
    merchant_id text NOT NULL,
    key text NOT NULL,
    fingerprint text NOT NULL,
    request jsonb NOT NULL,
    locked_at timestamptz,
    recovery_point text NOT NULL DEFAULT 'started',
    resource_id text,
    response_code int,
    response_body bytea,
    created timestamptz NOT NULL DEFAULT now(),
    UNIQUE (merchant_id, key)
);
CREATE TABLE IF NOT EXISTS webhook_endpoints (
    id text PRIMARY KEY,
    seq bigserial UNIQUE,
    merchant_id text NOT NULL REFERENCES merchants (id),
    url text NOT NULL,
    secret text NOT NULL,
    enabled_events jsonb NOT NULL,
    created bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id bigserial PRIMARY KEY,
    endpoint_id text NOT NULL REFERENCES webhook_endpoints (id),
    event_id text NOT NULL REFERENCES events (id),
    status text NOT NULL DEFAULT 'pending',  -- pending, delivered, failed
    attempts int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
-- Delivery runs: one worker at a time per endpoint (a lease, so a crashed worker's expires),
-- each endpoint's deliveries in event order, and the age that ends retries.
ALTER TABLE webhook_endpoints ADD COLUMN IF NOT EXISTS leased_until timestamptz;
ALTER TABLE webhook_deliveries ADD COLUMN IF NOT EXISTS created timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS webhook_deliveries_pending ON webhook_deliveries (endpoint_id)
    WHERE status = 'pending';
-- The trace of the event a delivery is for (the consumer span that planned it), so that each
-- try of it is a span of that trace.
ALTER TABLE webhook_deliveries ADD COLUMN IF NOT EXISTS traceparent text;
