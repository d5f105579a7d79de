-- Slack's data, the parts this stack needs. Ids look like Slack's: U..., C...
CREATE TABLE IF NOT EXISTS users (
    id text PRIMARY KEY,
    name text NOT NULL UNIQUE,
    token_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS channels (
    id text PRIMARY KEY,
    name text NOT NULL UNIQUE,
    is_private boolean NOT NULL DEFAULT false,
    creator text NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    -- the per-channel sequence: the row lock taken to bump it orders the channel's messages
    last_seq bigint NOT NULL DEFAULT 0,
    last_ts_us bigint NOT NULL DEFAULT 0,
    member_count integer NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS members (
    channel_id text NOT NULL REFERENCES channels (id),
    user_id text NOT NULL REFERENCES users (id),
    joined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel_id, user_id)
);
CREATE INDEX IF NOT EXISTS members_by_user ON members (user_id, channel_id);

CREATE TABLE IF NOT EXISTS messages (
    channel_id text NOT NULL REFERENCES channels (id),
    seq bigint NOT NULL,
    ts_us bigint NOT NULL,
    user_id text NOT NULL REFERENCES users (id),
    text text NOT NULL,
    client_msg_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel_id, seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_client_msg_id
    ON messages (channel_id, user_id, client_msg_id) WHERE client_msg_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_by_ts ON messages (channel_id, ts_us);
