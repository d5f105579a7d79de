"""A simulated card acquirer, run as its own process so network faults between payments and
the acquirer are real. Its latency and failure profile can be changed at run time
(``PUT /profile``). Every operation is idempotent on the caller's id (the charge attempt id,
the refund id), so a retried or resumed request never charges twice.

It evaluates the stack's flags: while ``payments.acquirerTimeouts`` is on, every
``/authorizations`` request is processed but its answer is held back (until the flag is off,
or ``hang_s``), so payments' calls run into their timeout with the outcome decided here.
"""

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import FastAPI
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from payments.domain.cards import TEST_CARDS, Card, Outcome, brand_of
from payments.settings import AcquirerSettings
from stackkit import flags
from stackkit.errors import Conflict, NotFound
from stackkit.lifespan import backends
from stackkit.service import create_service_app

TIMEOUTS = "payments.acquirerTimeouts"


class Profile(BaseModel):
    latency_ms: float = Field(ge=0)
    soft_decline_rate: float = Field(ge=0, le=1)
    timeout_rate: float = Field(ge=0, le=1)
    error_rate: float = Field(ge=0, le=1)
    hang_s: float = Field(ge=0)


class AuthorizeRequest(BaseModel):
    attempt_id: str = Field(min_length=1, max_length=100)
    amount: int = Field(gt=0)
    currency: str = Field(min_length=3, max_length=3)
    card_number: str = Field(min_length=12, max_length=19)
    capture: bool = False


class AmountRequest(BaseModel):
    amount: int = Field(gt=0)


class RefundRequest(BaseModel):
    refund_id: str = Field(min_length=1, max_length=100)
    amount: int = Field(gt=0)


class Authorization(BaseModel):
    attempt_id: str
    status: str  # approved, declined, voided
    decline_code: str | None = None
    amount: int
    captured: int = 0
    refunded: int = 0
    refunds: dict[str, int] = Field(default_factory=dict)


@dataclass
class Ledger:
    authorizations: dict[str, Authorization] = field(default_factory=dict)

    def stats(self) -> dict[str, int]:
        approved = [a for a in self.authorizations.values() if a.status != "declined"]
        return {
            "authorizations": len(self.authorizations),
            "approved": len(approved),
            "declined": len(self.authorizations) - len(approved),
            "captured_amount": sum(a.captured for a in approved),
            "refunded_amount": sum(a.refunded for a in approved),
        }


class AcquirerUnavailable(Conflict):
    """A simulated outage; a 409 as the payments client reads it: nothing was processed."""

    error_type = "api_error"
    code = "acquirer_unavailable"


def decide(card: Card, profile: Profile, rng: random.Random) -> tuple[str, str | None, bool]:
    """(status, decline code, hang) for one authorization."""
    if card.outcome == Outcome.TIMEOUT or rng.random() < profile.timeout_rate:
        return "approved", None, True  # decided, but the answer never reaches the caller
    if card.outcome == Outcome.DECLINE:
        return "declined", card.decline_code, False
    if rng.random() < profile.soft_decline_rate:
        return "declined", "try_again_later", False
    return "approved", None, False


class HeldAnswers:
    """ASGI middleware: while ``payments.acquirerTimeouts`` is on, an ``/authorizations``
    request runs to the end (charged, captured, refunded...) and only its answer waits, until
    the flag is off or ``hang_s()`` seconds: the worst kind of timeout for the caller, which
    must find out what happened (reconcile) rather than assume nothing did."""

    def __init__(self, app: ASGIApp, hang_s: Callable[[], float]) -> None:
        self.app = app
        self.hang_s = hang_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not scope["path"].startswith("/authorizations")
            or not flags.is_on(TIMEOUTS)
        ):
            await self.app(scope, receive, send)
            return

        async def held(message: Message) -> None:
            if message["type"] == "http.response.start":
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(flags.wait_for_change(TIMEOUTS, True), self.hang_s())
            await send(message)

        await self.app(scope, receive, held)


def create_app(settings: AcquirerSettings | None = None) -> FastAPI:
    settings = settings or AcquirerSettings()
    profile = Profile(**settings.model_dump(include=set(Profile.model_fields)))
    ledger = Ledger()
    rng = random.Random()

    app = create_service_app(
        name=settings.name,
        settings=settings,
        lifespan_parts=(backends(),),  # no backends: the run-time flags only
        description="A simulated card acquirer with a run-time latency and failure profile.",
    )
    app.add_middleware(HeldAnswers, hang_s=lambda: profile.hang_s)

    async def network() -> None:
        if profile.latency_ms:
            await asyncio.sleep(profile.latency_ms / 1000)
        if rng.random() < profile.error_rate:
            raise AcquirerUnavailable(f"{settings.name} is having trouble; nothing was processed")

    @app.get("/profile", tags=["acquirer"])
    async def get_profile() -> Profile:
        return profile

    @app.put("/profile", tags=["acquirer"])
    async def put_profile(update: Profile) -> Profile:
        nonlocal profile
        profile = update
        return profile

    @app.get("/stats", tags=["acquirer"])
    async def stats() -> dict[str, int]:
        return ledger.stats()

    @app.post("/authorizations", tags=["acquirer"])
    async def authorize(request: AuthorizeRequest) -> Authorization:
        await network()
        existing = ledger.authorizations.get(request.attempt_id)
        if existing is not None:
            return existing
        card = TEST_CARDS.get(request.card_number) or Card(
            request.card_number, brand_of(request.card_number)
        )
        status, decline_code, hang = decide(card, profile, rng)
        record = Authorization(
            attempt_id=request.attempt_id,
            status=status,
            decline_code=decline_code,
            amount=request.amount,
            captured=request.amount if request.capture and status == "approved" else 0,
        )
        ledger.authorizations[request.attempt_id] = record
        if hang:
            await asyncio.sleep(profile.hang_s)
        return record

    def find(attempt_id: str) -> Authorization:
        record = ledger.authorizations.get(attempt_id)
        if record is None:
            raise NotFound(f"no authorization {attempt_id}", code="authorization_missing")
        return record

    @app.get("/authorizations/{attempt_id}", tags=["acquirer"])
    async def get_authorization(attempt_id: str) -> Authorization:
        await network()
        return find(attempt_id)

    @app.post("/authorizations/{attempt_id}/capture", tags=["acquirer"])
    async def capture(attempt_id: str, request: AmountRequest) -> Authorization:
        await network()
        record = find(attempt_id)
        if record.status != "approved":
            raise Conflict(f"cannot capture a {record.status} authorization")
        if not record.captured:
            record.captured = min(request.amount, record.amount)
        return record

    @app.post("/authorizations/{attempt_id}/void", tags=["acquirer"])
    async def void(attempt_id: str) -> Authorization:
        await network()
        record = find(attempt_id)
        if record.status == "approved" and not record.captured:
            record.status = "voided"
        return record

    @app.post("/authorizations/{attempt_id}/refunds", tags=["acquirer"])
    async def refund(attempt_id: str, request: RefundRequest) -> Authorization:
        await network()
        record = find(attempt_id)
        if request.refund_id not in record.refunds:
            if record.refunded + request.amount > record.captured:
                raise Conflict("refund exceeds the captured amount")
            record.refunds[request.refund_id] = request.amount
            record.refunded += request.amount
        return record

    return app
