-- The dispatch service's own database. Applied at start-up (idempotent).
CREATE TABLE IF NOT EXISTS trips (
    id text PRIMARY KEY,
    rider_id text NOT NULL,
    status text NOT NULL,
    pickup_lat double precision NOT NULL,
    pickup_lng double precision NOT NULL,
    dropoff_lat double precision NOT NULL,
    dropoff_lng double precision NOT NULL,
    area text NOT NULL,
    surge double precision NOT NULL,
    fare_amount int NOT NULL,
    driver_id text,
    offered_driver text,
    offer_expires_at timestamptz,
    declined text[] NOT NULL DEFAULT '{}',
    created timestamptz NOT NULL DEFAULT now(),
    updated timestamptz NOT NULL DEFAULT now()
);
-- Storage, not only ownership, guarantees a driver holds one trip and one offer at a time;
-- a trip has a single driver column, so it can never have two drivers.
CREATE UNIQUE INDEX IF NOT EXISTS one_trip_per_driver ON trips (driver_id)
    WHERE status IN ('accepted', 'arrived', 'in_progress');
CREATE UNIQUE INDEX IF NOT EXISTS one_offer_per_driver ON trips (offered_driver)
    WHERE status = 'dispatching';
CREATE INDEX IF NOT EXISTS trips_offers_due ON trips (offer_expires_at) WHERE status = 'dispatching';
CREATE TABLE IF NOT EXISTS trip_transitions (
    id bigserial PRIMARY KEY,
    trip_id text NOT NULL REFERENCES trips (id),
    from_status text,
    to_status text NOT NULL,
    action text NOT NULL,
    driver_id text,
    at timestamptz NOT NULL DEFAULT now()
);
