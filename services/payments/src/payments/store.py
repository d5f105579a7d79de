"""The one place that speaks SQL for payments. Every function takes the connection of the
caller's transaction: use cases decide the transaction boundaries (one per atomic phase)."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from importlib import resources
from typing import Any

import asyncpg

from payments.domain.ledger import Entry
from payments.events import EVENTS, PAYMENT_EVENTS, StripeEvent
from stackkit.outbox import create_outbox, stage
from stackkit.schema import apply_schema
from stackkit.transactions import Connection

Row = dict[str, Any]


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(18).replace('-', 'x').replace('_', 'y')}"


def now() -> int:
    return int(time.time())


def key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def ensure_schema(pool: asyncpg.Pool[asyncpg.Record]) -> None:
    ddl = resources.files("payments").joinpath("schema.sql").read_text()
    await apply_schema(pool, "payments.schema", ddl)
    await create_outbox(pool)


def _row(record: asyncpg.Record | None) -> Row | None:
    if record is None:
        return None
    row = dict(record)
    for name in ("metadata", "last_payment_error", "data", "enabled_events", "request"):
        if isinstance(row.get(name), str):
            row[name] = json.loads(row[name])
    return row


# -- merchants and keys ----------------------------------------------------------------------


async def create_merchant(conn: Connection, name: str) -> tuple[str, str]:
    merchant_id = new_id("acct")
    secret = f"sk_test_{secrets.token_urlsafe(24)}"
    await conn.execute("INSERT INTO merchants (id, name) VALUES ($1, $2)", merchant_id, name)
    await conn.execute(
        "INSERT INTO api_keys (key_hash, merchant_id) VALUES ($1, $2)",
        key_hash(secret),
        merchant_id,
    )
    return merchant_id, secret


async def merchant_for_key(conn: Connection, secret: str) -> str | None:
    merchant: str | None = await conn.fetchval(
        "SELECT merchant_id FROM api_keys WHERE key_hash = $1", key_hash(secret)
    )
    return merchant


# -- payment intents -------------------------------------------------------------------------

INTENT_COLUMNS = (
    "id",
    "merchant_id",
    "amount",
    "currency",
    "status",
    "capture_method",
    "payment_method",
    "card_number",
    "card_brand",
    "region",
    "description",
    "metadata",
    "created",
)


async def insert_intent(conn: Connection, intent: Row) -> Row:
    """The intent as stored (the columns' defaults filled in), without reading it back."""
    values = [json.dumps(intent[c]) if c == "metadata" else intent[c] for c in INTENT_COLUMNS]
    placeholders = ", ".join(f"${i}" for i in range(1, len(INTENT_COLUMNS) + 1))
    record = await conn.fetchrow(
        f"INSERT INTO payment_intents ({', '.join(INTENT_COLUMNS)}) VALUES ({placeholders}) "
        "RETURNING *",
        *values,
    )
    row = _row(record)
    assert row is not None
    return row


async def get_intent(
    conn: Connection, merchant_id: str, intent_id: str, *, lock: bool = False
) -> Row | None:
    suffix = " FOR UPDATE" if lock else ""
    record = await conn.fetchrow(
        f"SELECT * FROM payment_intents WHERE id = $1 AND merchant_id = $2{suffix}",
        intent_id,
        merchant_id,
    )
    return _row(record)


async def update_intent(conn: Connection, intent_id: str, **fields: Any) -> None:
    names = list(fields)
    values = [
        json.dumps(fields[n])
        if n in ("metadata", "last_payment_error") and fields[n] is not None
        else fields[n]
        for n in names
    ]
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=2))
    await conn.execute(
        f"UPDATE payment_intents SET {assignments} WHERE id = $1", intent_id, *values
    )


async def record_transition(
    conn: Connection, intent_id: str, before: str | None, after: str, action: str
) -> None:
    await conn.execute(
        "INSERT INTO payment_intent_transitions (intent_id, from_status, to_status, action) "
        "VALUES ($1, $2, $3, $4)",
        intent_id,
        before,
        after,
        action,
    )


async def transitions(conn: Connection, intent_id: str) -> list[Row]:
    records = await conn.fetch(
        "SELECT from_status, to_status, action FROM payment_intent_transitions "
        "WHERE intent_id = $1 ORDER BY id",
        intent_id,
    )
    return [dict(r) for r in records]


# -- charge attempts -------------------------------------------------------------------------


async def insert_attempt(conn: Connection, intent_id: str, acquirer: str, number: int) -> str:
    """Attempt ``number`` of the intent's current confirmation."""
    attempt_id = new_id("att")
    await conn.execute(
        "INSERT INTO charge_attempts (id, intent_id, acquirer, confirmation, number, status) "
        "SELECT $1, $2, $3, confirmations, $4, 'pending' FROM payment_intents WHERE id = $2",
        attempt_id,
        intent_id,
        acquirer,
        number,
    )
    await conn.execute(
        "UPDATE payment_intents SET latest_attempt = $2 WHERE id = $1", intent_id, attempt_id
    )
    return attempt_id


async def attempts(conn: Connection, intent_id: str) -> list[Row]:
    """The attempts of the intent's latest confirmation, in order."""
    records = await conn.fetch(
        "SELECT a.* FROM charge_attempts a JOIN payment_intents i ON i.id = a.intent_id "
        "WHERE a.intent_id = $1 AND a.confirmation = i.confirmations ORDER BY a.number",
        intent_id,
    )
    return [dict(r) for r in records]


async def approved_attempts(conn: Connection, intent_id: str) -> int:
    """How many of the intent's attempts were approved, over all its confirmations."""
    count: int = await conn.fetchval(
        "SELECT count(*) FROM charge_attempts WHERE intent_id = $1 AND status = 'approved'",
        intent_id,
    )
    return count


async def settle_attempt(
    conn: Connection, attempt_id: str, status: str, decline_code: str | None
) -> None:
    await conn.execute(
        "UPDATE charge_attempts SET status = $2, decline_code = $3 WHERE id = $1",
        attempt_id,
        status,
        decline_code,
    )


# -- refunds, ledger, events -----------------------------------------------------------------


async def insert_refund(conn: Connection, refund: Row) -> None:
    await conn.execute(
        "INSERT INTO refunds (id, merchant_id, intent_id, amount, currency, status, reason, "
        "metadata, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        refund["id"],
        refund["merchant_id"],
        refund["intent_id"],
        refund["amount"],
        refund["currency"],
        refund["status"],
        refund["reason"],
        json.dumps(refund["metadata"]),
        refund["created"],
    )


async def set_refund_status(conn: Connection, refund_id: str, status: str) -> None:
    await conn.execute("UPDATE refunds SET status = $2 WHERE id = $1", refund_id, status)


async def post_ledger(
    conn: Connection,
    merchant_id: str,
    intent_id: str,
    kind: str,
    entries: list[Entry],
    refund_id: str | None = None,
) -> None:
    await conn.executemany(
        "INSERT INTO ledger_entries (merchant_id, intent_id, refund_id, kind, account, amount) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        [(merchant_id, intent_id, refund_id, kind, e.account, e.amount) for e in entries],
    )


async def insert_event(conn: Connection, merchant_id: str, event_type: str, obj: Row) -> str:
    """Stripe's Event object, and its twin staged in the outbox for Kafka, in one transaction;
    ``event_type`` is one of :data:`payments.events.StripeEventType` (else a ValueError)."""
    event_id = new_id("evt")
    created = now()
    twin = StripeEvent(stripe_type=event_type, merchant_id=merchant_id, created=created, object=obj)
    await conn.execute(
        "INSERT INTO events (id, merchant_id, type, created, data) VALUES ($1, $2, $3, $4, $5)",
        event_id,
        merchant_id,
        event_type,
        created,
        json.dumps({"object": obj}),
    )
    await stage(conn, PAYMENT_EVENTS.name, EVENTS.event(twin, event_id=event_id))
    return event_id


# -- lists -----------------------------------------------------------------------------------

LISTABLE = {"payment_intents", "refunds", "events", "webhook_endpoints"}


async def get_owned(conn: Connection, table: str, merchant_id: str, object_id: str) -> Row | None:
    """One of the merchant's objects; another merchant's is as missing as a nonexistent one."""
    assert table in LISTABLE
    record = await conn.fetchrow(
        f"SELECT * FROM {table} WHERE id = $1 AND merchant_id = $2", object_id, merchant_id
    )
    return _row(record)


async def page(
    conn: Connection,
    table: str,
    merchant_id: str,
    *,
    limit: int,
    starting_after: str | None,
    ending_before: str | None,
    filters: dict[str, Any] | None = None,
) -> tuple[list[Row], bool]:
    """Newest first, Stripe-style cursors on object ids; (rows, has_more)."""
    assert table in LISTABLE
    clauses = ["merchant_id = $1"]
    args: list[Any] = [merchant_id]
    for column, value in (filters or {}).items():
        args.append(value)
        clauses.append(f"{column} = ${len(args)}")
    cursor = starting_after or ending_before
    if cursor is not None:
        args.append(cursor)
        operator = "<" if starting_after else ">"
        clauses.append(
            f"seq {operator} (SELECT seq FROM {table} WHERE id = ${len(args)} AND merchant_id = $1)"
        )
    order = "DESC" if ending_before is None else "ASC"
    args.append(limit + 1)
    where = " AND ".join(clauses)
    records = await conn.fetch(
        f"SELECT * FROM {table} WHERE {where} ORDER BY seq {order} LIMIT ${len(args)}", *args
    )
    rows = [_row(r) for r in records]
    has_more = len(rows) > limit
    rows = rows[:limit]
    if ending_before is not None:
        rows.reverse()
    return [r for r in rows if r is not None], has_more


async def exists(conn: Connection, table: str, merchant_id: str, object_id: str) -> bool:
    assert table in LISTABLE
    found: bool = await conn.fetchval(
        f"SELECT EXISTS (SELECT 1 FROM {table} WHERE id = $1 AND merchant_id = $2)",
        object_id,
        merchant_id,
    )
    return found


# -- idempotency keys ------------------------------------------------------------------------


async def claim_key(
    conn: Connection, merchant_id: str, key: str, fingerprint: str, request: Row
) -> Row:
    """Insert the key, or lock the existing row; the caller decides what its state means."""
    await conn.execute(
        "INSERT INTO idempotency_keys (merchant_id, key, fingerprint, request) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (merchant_id, key) DO NOTHING",
        merchant_id,
        key,
        fingerprint,
        json.dumps(request),
    )
    record = await conn.fetchrow(
        "SELECT *, now() - locked_at AS lock_age FROM idempotency_keys "
        "WHERE merchant_id = $1 AND key = $2 FOR UPDATE",
        merchant_id,
        key,
    )
    row = _row(record)
    assert row is not None
    return row


async def lock_key(conn: Connection, key_id: int) -> None:
    await conn.execute("UPDATE idempotency_keys SET locked_at = now() WHERE id = $1", key_id)


async def progress_key(
    conn: Connection, key_id: int, recovery_point: str, resource_id: str | None
) -> None:
    await conn.execute(
        "UPDATE idempotency_keys SET recovery_point = $2, resource_id = COALESCE($3, resource_id) "
        "WHERE id = $1",
        key_id,
        recovery_point,
        resource_id,
    )


async def finish_key(conn: Connection, key_id: int, code: int, body: bytes) -> None:
    await conn.execute(
        "UPDATE idempotency_keys SET recovery_point = 'finished', locked_at = NULL, "
        "response_code = $2, response_body = $3 WHERE id = $1",
        key_id,
        code,
        body,
    )


async def unlock_key(conn: Connection, key_id: int) -> None:
    await conn.execute("UPDATE idempotency_keys SET locked_at = NULL WHERE id = $1", key_id)


async def delete_key(conn: Connection, key_id: int) -> None:
    await conn.execute("DELETE FROM idempotency_keys WHERE id = $1", key_id)


async def expire_keys(conn: Connection, older_than_s: float) -> int:
    result: str = await conn.execute(
        "DELETE FROM idempotency_keys WHERE created < now() - make_interval(secs => $1) "
        "AND locked_at IS NULL",
        older_than_s,
    )
    return int(result.split()[-1])


async def abandoned_keys(conn: Connection, lock_timeout_s: float, limit: int = 20) -> list[Row]:
    """Keys whose request stopped between phases: locked too long ago, or unlocked unfinished."""
    records = await conn.fetch(
        "SELECT * FROM idempotency_keys WHERE recovery_point <> 'finished' AND "
        "(locked_at IS NULL OR locked_at < now() - make_interval(secs => $1)) "
        "ORDER BY id LIMIT $2",
        lock_timeout_s,
        limit,
    )
    return [r for r in map(_row, records) if r is not None]


async def insert_webhook_endpoint(conn: Connection, endpoint: Row) -> None:
    await conn.execute(
        "INSERT INTO webhook_endpoints (id, merchant_id, url, secret, enabled_events, created) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        endpoint["id"],
        endpoint["merchant_id"],
        endpoint["url"],
        endpoint["secret"],
        json.dumps(endpoint["enabled_events"]),
        endpoint["created"],
    )


async def stuck_intents(conn: Connection, older_than_s: float, limit: int = 20) -> list[Row]:
    """Processing intents whose last move is old and that no unfinished request key covers."""
    records = await conn.fetch(
        "SELECT i.id, i.merchant_id FROM payment_intents i WHERE i.status = 'processing' "
        "AND (SELECT max(at) FROM payment_intent_transitions t WHERE t.intent_id = i.id) "
        "    < now() - make_interval(secs => $1) "
        "AND NOT EXISTS (SELECT 1 FROM idempotency_keys k WHERE k.resource_id = i.id "
        "    AND k.recovery_point <> 'finished') "
        "LIMIT $2",
        older_than_s,
        limit,
    )
    return [dict(r) for r in records]
