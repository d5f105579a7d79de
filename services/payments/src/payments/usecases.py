"""The payments use cases, each a sequence of atomic phases (after Brandur Leach's "atomic
phases and recovery points"): every phase is one SERIALIZABLE transaction; calls to an
acquirer happen between phases and are idempotent on ids written by the phase before, so a
request resumed after a crash (by its client's retry or by the reaper) never charges twice.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import asyncpg
import orjson

from payments import objects, params, store
from payments.acquirers import AcquirerClient
from payments.domain import cards, ledger
from payments.domain.errors import (
    IdempotencyInFlight,
    IdempotencyMismatch,
    InvalidRequest,
    ResourceMissing,
)
from payments.domain.intents import Action, Status, transition
from payments.domain.money import validate_amount, validate_currency
from payments.domain.routing import (
    Attempt,
    AttemptResult,
    AuthorizationStats,
    RetryPolicy,
    Routing,
    choose_acquirer,
)
from payments.metrics import IdempotencyOutcome, PaymentsMetrics
from payments.targets import Resolver, TargetRefused, resolve_target, system_resolver
from stackkit import flags, tracing
from stackkit.errors import DomainError, Unavailable
from stackkit.http_errors import status_and_body
from stackkit.logs import get_logger
from stackkit.transactions import Connection, serializable

log = get_logger(__name__)
T = TypeVar("T")

REGIONS = {
    "usd": "us",
    "cad": "us",
    "mxn": "us",
    "brl": "us",
    "eur": "eu",
    "pln": "eu",
    "czk": "eu",
    "sek": "eu",
    "dkk": "eu",
    "nok": "eu",
    "chf": "eu",
    "gbp": "gb",
}


@dataclass
class Response:
    status: int
    body: dict[str, Any]


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, Any]

    def fingerprint(self) -> str:
        canonical = json.dumps([self.method, self.path, self.params], sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class Progress:
    """Where an idempotent request got to: written inside each phase's own transaction."""

    key_id: int | None = None
    resource_id: str | None = None
    started: bool = False

    async def record(self, conn: Connection, point: str, resource_id: str | None = None) -> None:
        self.started = True
        if resource_id is not None:
            self.resource_id = resource_id
        if self.key_id is not None:
            await store.progress_key(conn, self.key_id, point, resource_id)


KEY_TTL_S = 24 * 3600


# The design switches, read per request (a dict read): a flip applies to the next request.
def _guard_ignored() -> bool:
    """``payments.idempotency=ignored``: a demo of what the guard prevents (refused in
    production, where this answers ``enforced``)."""
    return flags.choice("payments.idempotency") == "ignored"


def _routing() -> Routing:
    return Routing(flags.choice("payments.routing"))


def _smart_retries() -> bool:
    return flags.choice("payments.smartRetries") == "on"


class OutcomeUnknown(Unavailable):
    code = "outcome_pending"


@dataclass
class Payments:
    pool: asyncpg.Pool[asyncpg.Record]
    acquirers: dict[str, AcquirerClient]
    lock_timeout_s: float = 10.0
    allow_private_webhook_targets: bool = False
    resolver: Resolver = system_resolver
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    stats: AuthorizationStats = field(default_factory=AuthorizationStats)
    rng: random.Random = field(default_factory=random.Random)
    metrics: PaymentsMetrics = field(default_factory=PaymentsMetrics)

    async def _serializable(self, operation: str, work: Callable[[Connection], Awaitable[T]]) -> T:
        """One atomic phase (:func:`serializable`), its retries counted under ``operation``."""
        return await serializable(self.pool, self.metrics.counting_retries(operation, work))

    async def _final(self, conn: Connection, intent_id: str, approvals: list[int]) -> None:
        """The intent is final in this transaction: note its approvals, for the caller to
        observe once the transaction has committed (a retried run starts the list again)."""
        approvals[:] = [await store.approved_attempts(conn, intent_id)]

    # -- idempotency ---------------------------------------------------------------------------

    async def idempotent(
        self, merchant_id: str, key: str | None, request: Request
    ) -> tuple[int, bytes]:
        """Run ``request`` at most once per (merchant, key); replays get the stored bytes."""
        if key is not None and len(key) > 255:
            raise InvalidRequest(
                "Idempotency-Key must be at most 255 characters.", param="Idempotency-Key"
            )
        if key is not None and _guard_ignored():
            # No claim, no lock, no stored response: a retry runs the request again.
            log.warning("idempotency_key_ignored", merchant_id=merchant_id, path=request.path)
            key = None
        if key is None:
            response = await self.dispatch(merchant_id, request, Progress())
            return response.status, orjson.dumps(response.body)

        async def claim(conn: Connection) -> store.Row:
            async with conn.transaction():
                row = await store.claim_key(
                    conn, merchant_id, key, request.fingerprint(), request.__dict__
                )
                if row["fingerprint"] != request.fingerprint():
                    self.metrics.idempotency(IdempotencyOutcome.CONFLICT)
                    raise IdempotencyMismatch(
                        "Keys for idempotent requests can only be used with the same parameters "
                        f"they were first used with. Try using a key other than '{key}' if you "
                        "meant to execute a different request."
                    )
                if row["recovery_point"] == "finished":
                    self.metrics.idempotency(IdempotencyOutcome.REPLAYED)
                    return row
                age = row["lock_age"]
                if row["locked_at"] is not None and age.total_seconds() < self.lock_timeout_s:
                    self.metrics.idempotency(IdempotencyOutcome.IN_PROGRESS)
                    raise IdempotencyInFlight(
                        "There is currently another in-progress request using this Idempotent Key "
                        "(that probably means you submitted twice, and the other request is still "
                        "going through). Please try again later."
                    )
                await store.lock_key(conn, row["id"])
                self.metrics.idempotency(IdempotencyOutcome.NEW)
                return row

        async with self.pool.acquire() as conn:
            row = await claim(conn)
        if row["recovery_point"] == "finished":
            return int(row["response_code"]), bytes(row["response_body"])
        return await self._run_keyed(merchant_id, row, request)

    async def _run_keyed(
        self, merchant_id: str, key_row: store.Row, request: Request
    ) -> tuple[int, bytes]:
        progress = Progress(
            key_row["id"], key_row["resource_id"], key_row["recovery_point"] != "started"
        )
        try:
            response = await self.dispatch(merchant_id, request, progress)
        except DomainError as error:
            if not progress.started:
                # Stripe saves no result for a request that failed before it began executing.
                async with self.pool.acquire() as conn:
                    await store.delete_key(conn, key_row["id"])
                raise
            if isinstance(error, Unavailable):
                async with self.pool.acquire() as conn:
                    await store.unlock_key(conn, key_row["id"])
                raise
            response = Response(*status_and_body(error))
        except BaseException:
            async with self.pool.acquire() as conn:
                await store.unlock_key(conn, key_row["id"])
            raise
        body = orjson.dumps(response.body)
        async with self.pool.acquire() as conn:
            await store.finish_key(conn, key_row["id"], response.status, body)
        return response.status, body

    async def reconcile_stuck(self) -> int:
        """Intents left ``processing`` by a request that had no Idempotency-Key to be resumed by:
        ask their acquirer what happened and settle them."""
        async with self.pool.acquire() as conn:
            stuck = await store.stuck_intents(conn, self.lock_timeout_s)
        settled = 0
        for intent in stuck:
            try:
                await self._authorize(intent["merchant_id"], intent["id"])
                settled += 1
            except DomainError as error:
                log.info("reconcile_deferred", intent_id=intent["id"], reason=error.message)
        return settled

    async def expire_keys(self) -> int:
        """Idempotency keys are kept for 24 hours, as Stripe does."""
        async with self.pool.acquire() as conn:
            return await store.expire_keys(conn, KEY_TTL_S)

    async def complete_abandoned(self) -> int:
        """The reaper: finish requests that stopped between phases (a crash, an acquirer outage)."""
        async with self.pool.acquire() as conn:
            rows = await store.abandoned_keys(conn, self.lock_timeout_s)
        completed = 0
        for row in rows:
            async with self.pool.acquire() as conn, conn.transaction():
                locked = await conn.fetchrow(
                    "SELECT id FROM idempotency_keys WHERE id = $1 "
                    "AND recovery_point <> 'finished' "
                    "AND (locked_at IS NULL OR locked_at < now() - make_interval(secs => $2)) "
                    "FOR UPDATE SKIP LOCKED",
                    row["id"],
                    self.lock_timeout_s,
                )
                if locked is None:
                    continue
                await store.lock_key(conn, row["id"])
            request = Request(**row["request"])
            try:
                await self._run_keyed(row["merchant_id"], row, request)
                completed += 1
            except DomainError as error:
                log.info("reaper_deferred", key_id=row["id"], reason=error.message)
        return completed

    # -- routing of requests -------------------------------------------------------------------

    async def dispatch(self, merchant_id: str, request: Request, progress: Progress) -> Response:
        path, data = request.path, request.params
        if path == "/v1/payment_intents":
            return await self.create_intent(
                merchant_id, params.parse(params.CreatePaymentIntent, data), progress
            )
        match = re.fullmatch(r"/v1/payment_intents/([^/]+)(?:/(confirm|capture|cancel))?", path)
        if match:
            intent_id, verb = match.groups()
            if verb is None:
                return await self.update_intent(
                    merchant_id, intent_id, params.parse(params.UpdatePaymentIntent, data)
                )
            if verb == "confirm":
                confirm = params.parse(params.ConfirmPaymentIntent, data)
                return await self.confirm(
                    merchant_id,
                    intent_id,
                    confirm.payment_method,
                    confirm.payment_method_data,
                    progress,
                )
            if verb == "capture":
                return await self.capture(
                    merchant_id,
                    intent_id,
                    params.parse(params.CapturePaymentIntent, data),
                    progress,
                )
            return await self.cancel(
                merchant_id, intent_id, params.parse(params.CancelPaymentIntent, data), progress
            )
        if path == "/v1/refunds":
            return await self.refund(merchant_id, params.parse(params.CreateRefund, data), progress)
        if path == "/v1/webhook_endpoints":
            return await self.create_webhook_endpoint(
                merchant_id, params.parse(params.CreateWebhookEndpoint, data)
            )
        raise ResourceMissing(f"Unrecognized request URL (POST: {path}).", code="resource_missing")

    # -- payment intents -----------------------------------------------------------------------

    async def _load(
        self, conn: Connection, merchant_id: str, intent_id: str, *, lock: bool = True
    ) -> store.Row:
        intent = await store.get_intent(conn, merchant_id, intent_id, lock=lock)
        if intent is None:
            raise ResourceMissing(f"No such payment_intent: '{intent_id}'", param="intent")
        return intent

    async def _move(
        self, conn: Connection, intent: store.Row, action: Action, **fields: Any
    ) -> Status:
        before = Status(intent["status"])
        after = transition(before, action)
        await store.update_intent(conn, intent["id"], status=after.value, **fields)
        await store.record_transition(conn, intent["id"], before.value, after.value, action.value)
        intent.update(fields, status=after.value)
        return after

    async def _event(self, conn: Connection, intent: store.Row, event_type: str) -> None:
        await store.insert_event(
            conn, intent["merchant_id"], event_type, objects.payment_intent(intent)
        )

    async def create_intent(
        self, merchant_id: str, p: params.CreatePaymentIntent, progress: Progress
    ) -> Response:
        currency = validate_currency(p.currency)
        amount = validate_amount(p.amount, currency)
        card = (
            self._card(p.payment_method, p.payment_method_data)
            if (p.payment_method or p.payment_method_data)
            else None
        )
        if p.confirm and card is None:
            raise InvalidRequest(
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
                param="payment_method",
                code="payment_intent_unexpected_state",
            )
        if progress.resource_id is None:

            async def create(conn: Connection) -> str:
                intent: store.Row = {
                    "id": store.new_id("pi"),
                    "merchant_id": merchant_id,
                    "amount": amount,
                    "currency": currency,
                    "status": Status.REQUIRES_PAYMENT_METHOD.value,
                    "capture_method": "manual" if p.capture_method == "manual" else "automatic",
                    "payment_method": None,
                    "card_number": None,
                    "card_brand": None,
                    "region": REGIONS.get(currency, "intl"),
                    "description": p.description,
                    "metadata": p.metadata or {},
                    "created": store.now(),
                }
                # Written once, in its state after creation, and never read back: a read takes
                # SERIALIZABLE predicate locks on the index pages every concurrent creation
                # writes to, and on young tables those conflicts exhausted the retries.
                moves = [(None, intent["status"], "create")]
                if card is not None:
                    attached = transition(Status(intent["status"]), Action.ATTACH_PAYMENT_METHOD)
                    moves.append(
                        (intent["status"], attached.value, Action.ATTACH_PAYMENT_METHOD.value)
                    )
                    intent |= self._attached_fields(card, p.payment_method)
                    intent["status"] = attached.value
                row = await store.insert_intent(conn, intent)
                for before, after, action in moves:
                    await store.record_transition(conn, intent["id"], before, after, action)
                await self._event(conn, row, "payment_intent.created")
                await progress.record(conn, "intent_created", intent["id"])
                return str(intent["id"])

            await self._serializable("create_intent", create)
        assert progress.resource_id is not None
        # On the request's span (a no-op untraced): Jaeger finds a payment's trace by its id.
        tracing.set_attribute("payments.intent.id", progress.resource_id)
        if p.confirm:
            return await self.confirm(merchant_id, progress.resource_id, None, None, progress)
        return await self._current(merchant_id, progress.resource_id)

    async def _current(self, merchant_id: str, intent_id: str) -> Response:
        async with self.pool.acquire() as conn:
            intent = await self._load(conn, merchant_id, intent_id, lock=False)
        return Response(200, objects.payment_intent(intent))

    @staticmethod
    def _card(payment_method: str | None, data: params.PaymentMethodData | None) -> cards.Card:
        return cards.card_for(payment_method, data.card.number if data else None)

    @staticmethod
    def _attached_fields(card: cards.Card, token: str | None) -> dict[str, Any]:
        return {
            "payment_method": token or f"pm_card_{card.brand}_{card.last4}",
            "card_number": card.number,
            "card_brand": card.brand,
        }

    async def _attach(
        self, conn: Connection, intent: store.Row, card: cards.Card, token: str | None
    ) -> None:
        await self._move(
            conn, intent, Action.ATTACH_PAYMENT_METHOD, **self._attached_fields(card, token)
        )

    async def retrieve_intent(self, merchant_id: str, intent_id: str) -> dict[str, Any]:
        return (await self._current(merchant_id, intent_id)).body

    async def update_intent(
        self, merchant_id: str, intent_id: str, p: params.UpdatePaymentIntent
    ) -> Response:
        async def update(conn: Connection) -> store.Row:
            intent = await self._load(conn, merchant_id, intent_id)
            currency = validate_currency(p.currency) if p.currency else intent["currency"]
            fields: dict[str, Any] = {}
            if p.amount is not None or p.currency is not None:
                fields["amount"] = validate_amount(p.amount or intent["amount"], currency)
                fields["currency"] = currency
            if p.description is not None:
                fields["description"] = p.description
            if p.metadata is not None:
                merged = {**intent["metadata"], **p.metadata}
                fields["metadata"] = {k: v for k, v in merged.items() if v != ""}
            if p.payment_method is not None:
                await self._attach(
                    conn, intent, self._card(p.payment_method, None), p.payment_method
                )
            await self._move(conn, intent, Action.UPDATE, **fields)
            return intent

        intent = await self._serializable("update_intent", update)
        return Response(200, objects.payment_intent(intent))

    async def confirm(
        self,
        merchant_id: str,
        intent_id: str,
        payment_method: str | None,
        payment_method_data: params.PaymentMethodData | None,
        progress: Progress,
    ) -> Response:
        card = (
            self._card(payment_method, payment_method_data)
            if (payment_method or payment_method_data)
            else None
        )
        tracing.set_attribute("payments.intent.id", intent_id)

        async def begin(conn: Connection) -> None:
            intent = await self._load(conn, merchant_id, intent_id)
            if intent["status"] == Status.PROCESSING.value:
                return  # resuming: the attempt already exists
            if card is not None:
                await self._attach(conn, intent, card, payment_method)
            if intent["card_number"] is None:
                raise InvalidRequest(
                    "You cannot confirm this PaymentIntent because it's missing a payment method.",
                    param="payment_method",
                    code="payment_intent_unexpected_state",
                )
            await self._move(
                conn, intent, Action.CONFIRM, confirmations=intent["confirmations"] + 1
            )
            acquirer = choose_acquirer(
                list(self.acquirers),
                self.stats,
                intent["card_brand"],
                intent["region"],
                self.rng,
                routing=_routing(),
            )
            assert acquirer is not None
            await store.insert_attempt(conn, intent_id, acquirer, 1)
            await progress.record(conn, "attempt_created", intent_id)

        await self._serializable("confirm", begin)
        return await self._authorize(merchant_id, intent_id)

    async def _authorize(self, merchant_id: str, intent_id: str) -> Response:
        """Drive the intent's attempts to an outcome: approved, declined, or retried elsewhere."""
        async with self.pool.acquire() as conn:
            intent = await self._load(conn, merchant_id, intent_id, lock=False)
            history = await store.attempts(conn, intent_id)
        if intent["status"] != Status.PROCESSING.value:
            return await self._settled_response(intent)
        current = history[-1]
        results = [
            Attempt(a["acquirer"], AttemptResult(a["status"]), a["decline_code"])
            for a in history[:-1]
            if a["status"] in {r.value for r in AttemptResult}
        ]
        while True:
            result = await self._attempt_result(intent, current)
            self.stats.record(
                result.acquirer,
                intent["card_brand"],
                intent["region"],
                result.result == AttemptResult.APPROVED,
            )
            results.append(result)
            if result.result == AttemptResult.APPROVED:
                return await self._approved(merchant_id, intent_id, current["id"])
            tried = frozenset(r.acquirer for r in results)
            next_acquirer = (
                choose_acquirer(
                    list(self.acquirers),
                    self.stats,
                    intent["card_brand"],
                    intent["region"],
                    self.rng,
                    exploration=0.0,
                    exclude=tried,
                    routing=_routing(),
                )
                if _smart_retries() and self.retry_policy.should_retry(results)
                else None
            )
            if next_acquirer is None:
                return await self._declined(merchant_id, intent_id, current["id"], result)

            retry = partial(
                self._next_attempt,
                intent_id=intent_id,
                previous=current["id"],
                result=result,
                acquirer=next_acquirer,
                number=len(results) + 1,
            )
            current = await self._serializable("next_attempt", retry)

    @staticmethod
    async def _next_attempt(
        conn: Connection,
        *,
        intent_id: str,
        previous: str,
        result: Attempt,
        acquirer: str,
        number: int,
    ) -> store.Row:
        await store.settle_attempt(conn, previous, result.result.value, result.decline_code)
        attempt_id = await store.insert_attempt(conn, intent_id, acquirer, number)
        return {"id": attempt_id, "acquirer": acquirer, "status": "pending"}

    async def _attempt_result(self, intent: store.Row, attempt: store.Row) -> Attempt:
        acquirer = self.acquirers.get(attempt["acquirer"])
        if acquirer is None:
            return Attempt(attempt["acquirer"], AttemptResult.UNREACHED)
        if attempt["status"] in ("approved", "declined", "unreached"):
            return Attempt(
                attempt["acquirer"], AttemptResult(attempt["status"]), attempt["decline_code"]
            )
        result = await acquirer.authorize(
            attempt["id"],
            intent["amount"],
            intent["currency"],
            intent["card_number"],
            capture=intent["capture_method"] == "automatic",
        )
        self.metrics.authorized(result, intent["card_brand"], intent["region"])
        if result.result != AttemptResult.TIMED_OUT:
            return result
        reconciled = await acquirer.reconcile(attempt["id"])
        if reconciled is None:
            async with self.pool.acquire() as conn:
                await store.settle_attempt(conn, attempt["id"], "unknown", None)
            raise OutcomeUnknown(
                f"The outcome at {attempt['acquirer']} is not known yet; retry this request "
                "with the same Idempotency-Key to get it."
            )
        return reconciled

    async def _settled_response(self, intent: store.Row) -> Response:
        if (
            intent["status"] == Status.REQUIRES_PAYMENT_METHOD.value
            and intent["last_payment_error"]
        ):
            return self._decline_response(intent)
        return Response(200, objects.payment_intent(intent))

    @staticmethod
    def _decline_response(intent: store.Row) -> Response:
        error = dict(intent["last_payment_error"])
        error["payment_intent"] = objects.payment_intent(intent)
        return Response(402, {"error": error})

    async def _approved(self, merchant_id: str, intent_id: str, attempt_id: str) -> Response:
        approvals: list[int] = []

        async def approve(conn: Connection) -> Response:
            approvals.clear()
            intent = await self._load(conn, merchant_id, intent_id)
            if intent["status"] != Status.PROCESSING.value:
                return await self._settled_response(intent)
            await store.settle_attempt(conn, attempt_id, "approved", None)
            amount = intent["amount"]
            await store.post_ledger(
                conn, merchant_id, intent_id, "authorization", ledger.authorization(amount)
            )
            if intent["capture_method"] == "manual":
                await self._move(
                    conn,
                    intent,
                    Action.AUTHORIZED_FOR_CAPTURE,
                    amount_capturable=amount,
                    last_payment_error=None,
                )
                await self._event(conn, intent, "payment_intent.amount_capturable_updated")
            else:
                await store.post_ledger(
                    conn, merchant_id, intent_id, "capture", ledger.capture(amount, amount)
                )
                await self._move(
                    conn, intent, Action.CAPTURED, amount_received=amount, last_payment_error=None
                )
                await self._event(conn, intent, "payment_intent.succeeded")
                await self._final(conn, intent_id, approvals)
            return Response(200, objects.payment_intent(intent))

        response = await self._serializable("approve", approve)
        for count in approvals:
            self.metrics.intent_final(count)
        return response

    async def _declined(
        self, merchant_id: str, intent_id: str, attempt_id: str, result: Attempt
    ) -> Response:
        decline_code = result.decline_code or (
            "processing_error" if result.result != AttemptResult.DECLINED else "generic_decline"
        )

        async def decline(conn: Connection) -> Response:
            intent = await self._load(conn, merchant_id, intent_id)
            if intent["status"] != Status.PROCESSING.value:
                return await self._settled_response(intent)
            await store.settle_attempt(conn, attempt_id, result.result.value, result.decline_code)
            error = {
                "type": "card_error",
                "code": "processing_error"
                if decline_code == "processing_error"
                else "card_declined",
                "decline_code": decline_code,
                "message": _DECLINE_MESSAGES.get(decline_code, "Your card was declined."),
                "param": None,
                "payment_method": {
                    "id": intent["payment_method"],
                    "object": "payment_method",
                    "type": "card",
                },
            }
            await self._move(conn, intent, Action.DECLINED, last_payment_error=error)
            await self._event(conn, intent, "payment_intent.payment_failed")
            return self._decline_response(intent)

        return await self._serializable("decline", decline)

    async def _approved_attempt(self, intent_id: str) -> store.Row:
        async with self.pool.acquire() as conn:
            history = await store.attempts(conn, intent_id)
        return next(a for a in reversed(history) if a["status"] == "approved")

    async def _at_acquirer(
        self, attempt: store.Row, call: Callable[[AcquirerClient], Awaitable[None]]
    ) -> None:
        try:
            await call(self.acquirers[attempt["acquirer"]])
        except Exception as exc:
            raise Unavailable(
                f"{attempt['acquirer']} could not be reached; retry with the same Idempotency-Key."
            ) from exc

    async def capture(
        self, merchant_id: str, intent_id: str, p: params.CapturePaymentIntent, progress: Progress
    ) -> Response:
        async with self.pool.acquire() as conn:
            intent = await self._load(conn, merchant_id, intent_id, lock=False)
        if intent["status"] == Status.SUCCEEDED.value and progress.started:
            return Response(200, objects.payment_intent(intent))
        transition(Status(intent["status"]), Action.CAPTURE)
        amount = (
            p.amount_to_capture if p.amount_to_capture is not None else intent["amount_capturable"]
        )
        ledger.capture(amount, intent["amount_capturable"])
        attempt = await self._approved_attempt(intent_id)
        await self._at_acquirer(attempt, lambda acquirer: acquirer.capture(attempt["id"], amount))

        approvals: list[int] = []

        async def apply(conn: Connection) -> store.Row:
            approvals.clear()
            current = await self._load(conn, merchant_id, intent_id)
            if current["status"] == Status.SUCCEEDED.value:
                return current
            authorized = current["amount_capturable"]
            await store.post_ledger(
                conn, merchant_id, intent_id, "capture", ledger.capture(amount, authorized)
            )
            await self._move(
                conn, current, Action.CAPTURE, amount_received=amount, amount_capturable=0
            )
            await self._event(conn, current, "payment_intent.succeeded")
            await progress.record(conn, "captured")
            await self._final(conn, intent_id, approvals)
            return current

        captured = await self._serializable("capture", apply)
        for count in approvals:
            self.metrics.intent_final(count)
        return Response(200, objects.payment_intent(captured))

    async def cancel(
        self, merchant_id: str, intent_id: str, p: params.CancelPaymentIntent, progress: Progress
    ) -> Response:
        async with self.pool.acquire() as conn:
            intent = await self._load(conn, merchant_id, intent_id, lock=False)
        if intent["status"] == Status.CANCELED.value and progress.started:
            return Response(200, objects.payment_intent(intent))
        transition(Status(intent["status"]), Action.CANCEL)
        if intent["status"] == Status.REQUIRES_CAPTURE.value:
            attempt = await self._approved_attempt(intent_id)
            await self._at_acquirer(attempt, lambda acquirer: acquirer.void(attempt["id"]))

        approvals: list[int] = []

        async def apply(conn: Connection) -> store.Row:
            approvals.clear()
            current = await self._load(conn, merchant_id, intent_id)
            if current["status"] == Status.CANCELED.value:
                return current
            held = current["amount_capturable"]
            await self._move(
                conn,
                current,
                Action.CANCEL,
                canceled_at=store.now(),
                cancellation_reason=p.cancellation_reason,
                amount_capturable=0,
            )
            if held:
                await store.post_ledger(
                    conn, merchant_id, intent_id, "release", ledger.release(held)
                )
            await self._event(conn, current, "payment_intent.canceled")
            await progress.record(conn, "canceled")
            await self._final(conn, intent_id, approvals)
            return current

        canceled = await self._serializable("cancel", apply)
        for count in approvals:
            self.metrics.intent_final(count)
        return Response(200, objects.payment_intent(canceled))

    async def list_intents(self, merchant_id: str, p: params.ListParams) -> dict[str, Any]:
        return await self._list(
            "payment_intents", "/v1/payment_intents", objects.payment_intent, merchant_id, p, {}
        )

    async def _list(
        self,
        table: str,
        url: str,
        render: Callable[[store.Row], dict[str, Any]],
        merchant_id: str,
        p: params.ListParams,
        filters: dict[str, Any],
    ) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            for cursor, name in (
                (p.starting_after, "starting_after"),
                (p.ending_before, "ending_before"),
            ):
                if cursor is not None and not await store.exists(conn, table, merchant_id, cursor):
                    raise InvalidRequest(
                        f"No such object: '{cursor}'", param=name, code="resource_missing"
                    )
            rows, has_more = await store.page(
                conn,
                table,
                merchant_id,
                limit=p.limit,
                starting_after=p.starting_after,
                ending_before=p.ending_before,
                filters=filters,
            )
        return objects.listing(url, [render(row) for row in rows], has_more)

    # -- refunds -------------------------------------------------------------------------------

    async def refund(
        self, merchant_id: str, p: params.CreateRefund, progress: Progress
    ) -> Response:
        if progress.resource_id is None:

            async def reserve(conn: Connection) -> str:
                intent = await self._load(conn, merchant_id, p.payment_intent)
                if intent["status"] != Status.SUCCEEDED.value:
                    raise InvalidRequest(
                        f"This PaymentIntent ({intent['id']}) does not have a successful "
                        "charge to refund.",
                        param="payment_intent",
                        code="charge_not_refundable",
                    )
                remaining = intent["amount_received"] - intent["amount_refunded"]
                amount = p.amount if p.amount is not None else remaining
                ledger.refund(amount, intent["amount_received"], intent["amount_refunded"])
                refund_id = store.new_id("re")
                await store.insert_refund(
                    conn,
                    {
                        "id": refund_id,
                        "merchant_id": merchant_id,
                        "intent_id": intent["id"],
                        "amount": amount,
                        "currency": intent["currency"],
                        "status": "pending",
                        "reason": p.reason,
                        "metadata": p.metadata or {},
                        "created": store.now(),
                    },
                )
                await store.update_intent(
                    conn, intent["id"], amount_refunded=intent["amount_refunded"] + amount
                )
                await progress.record(conn, "refund_reserved", refund_id)
                return refund_id

            await self._serializable("refund_reserve", reserve)
        refund_id = progress.resource_id
        assert refund_id is not None
        async with self.pool.acquire() as conn:
            refund = await store.get_owned(conn, "refunds", merchant_id, refund_id)
        assert refund is not None
        attempt = await self._approved_attempt(refund["intent_id"])
        await self._at_acquirer(
            attempt, lambda acquirer: acquirer.refund(attempt["id"], refund_id, refund["amount"])
        )

        async def settle(conn: Connection) -> store.Row:
            current = await store.get_owned(conn, "refunds", merchant_id, refund_id)
            assert current is not None
            if current["status"] == "pending":
                await store.set_refund_status(conn, refund_id, "succeeded")
                current["status"] = "succeeded"
                await store.post_ledger(
                    conn,
                    merchant_id,
                    current["intent_id"],
                    "refund",
                    ledger.refund(current["amount"], current["amount"], 0),
                    refund_id,
                )
                await store.insert_event(
                    conn, merchant_id, "refund.created", objects.refund(current)
                )
                intent = await self._load(conn, merchant_id, current["intent_id"], lock=False)
                await self._event(conn, intent, "charge.refunded")
            return current

        return Response(200, objects.refund(await self._serializable("refund_settle", settle)))

    async def _retrieve(self, table: str, kind: str, merchant_id: str, object_id: str) -> store.Row:
        async with self.pool.acquire() as conn:
            found = await store.get_owned(conn, table, merchant_id, object_id)
        if found is None:
            raise ResourceMissing(f"No such {kind}: '{object_id}'", param="id")
        return found

    async def retrieve_refund(self, merchant_id: str, refund_id: str) -> dict[str, Any]:
        return objects.refund(await self._retrieve("refunds", "refund", merchant_id, refund_id))

    async def list_refunds(self, merchant_id: str, p: params.ListParams) -> dict[str, Any]:
        filters = {"intent_id": p.payment_intent} if p.payment_intent else {}
        return await self._list("refunds", "/v1/refunds", objects.refund, merchant_id, p, filters)

    # -- events and webhooks -------------------------------------------------------------------

    async def retrieve_event(self, merchant_id: str, event_id: str) -> dict[str, Any]:
        return objects.event(await self._retrieve("events", "event", merchant_id, event_id))

    async def list_events(self, merchant_id: str, p: params.ListParams) -> dict[str, Any]:
        filters = {"type": p.type} if p.type else {}
        return await self._list("events", "/v1/events", objects.event, merchant_id, p, filters)

    async def create_webhook_endpoint(
        self, merchant_id: str, p: params.CreateWebhookEndpoint
    ) -> Response:
        try:
            # Checked again before every delivery (rebinding); this is the early, clear 400.
            await resolve_target(
                p.url, allow_private=self.allow_private_webhook_targets, resolver=self.resolver
            )
        except TargetRefused as exc:
            raise InvalidRequest(f"Invalid URL: {exc}.", param="url", code="url_invalid") from None
        endpoint = {
            "id": store.new_id("we"),
            "merchant_id": merchant_id,
            "url": p.url,
            "secret": f"whsec_{store.new_id('s')[2:]}",
            "enabled_events": p.enabled_events,
            "created": store.now(),
        }
        async with self.pool.acquire() as conn:
            await store.insert_webhook_endpoint(conn, endpoint)
        return Response(200, objects.webhook_endpoint(endpoint, with_secret=True))


_DECLINE_MESSAGES = {
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
    "processing_error": "An error occurred while processing your card. Try again in a little bit.",
    "try_again_later": "Your card was declined. Try again in a little bit.",
}
