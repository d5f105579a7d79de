"""Payments' run-time faults and design switches on the running stack, driven with the official
stripe SDK: each flag, flipped in the stack's flag file, changes what a merchant sees within a
flip, flipping it back restores it, and the money stays right throughout (the acquirers' own
counts against the intents): no charge twice, none lost, except where a switch is the demo
of exactly that (``payments.idempotency=ignored``), which production refuses."""

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe

from devstack.processes import wait_until
from devstack.servers import KafkaServer, PostgresServer
from devstack.stack import REPO_FLAG_FILE, NativeStack
from devstack.topology import ACQUIRERS
from stackkit.flag_file import read_flag_file, set_flag, write_flag_file
from tests.flags.running import within_a_flip
from tests.payments.integration.conftest import (
    Merchant,
    _payments_servers,
    _start,
    acquirer_stats,
    set_profile,
)
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

PAYMENTS_PROCESSES = ("payments", "payments-worker", *ACQUIRERS)
"""Every process whose behaviour these flags change (each evaluates every flag)."""
CARD = {"amount": 1500, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}


def flag_changes(url: str, key: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith(f'flag_changes_total{{flag="{key}"}}'):
            return float(line.split()[-1])
    return 0.0


@dataclass
class StackFlags:
    """Flips flags in the stack's file; :meth:`restore` puts the file back and waits until
    every payments process has taken the defaults again, so the next test starts clean."""

    stack: NativeStack
    defaults: dict[str, str] = field(default_factory=dict)
    current: dict[str, str] = field(default_factory=dict)
    counts: dict[tuple[str, str], float] = field(default_factory=dict)
    """Each payments process's flip count of the flags last written, before the write."""

    def __post_init__(self) -> None:
        flags = read_flag_file(REPO_FLAG_FILE)["flags"]
        self.defaults = {key: flag["defaultVariant"] for key, flag in flags.items()}

    def _count(self, keys: list[str]) -> None:
        urls = [self.stack.url(name) for name in PAYMENTS_PROCESSES]
        self.counts = {(url, key): flag_changes(url, key) for url in urls for key in keys}

    def set(self, key: str, variant: str) -> None:
        self._count([key])
        set_flag(self.stack.flags_path, key, variant)
        self.current[key] = variant

    def landed(self) -> bool:
        """Whether the last write has reached every payments process (each counts its flips)."""
        return all(flag_changes(url, key) > count for (url, key), count in self.counts.items())

    async def has_landed(self) -> bool:
        return self.landed()

    def restore(self) -> None:
        changed = [key for key, variant in self.current.items() if variant != self.defaults[key]]
        self._count(changed)
        write_flag_file(self.stack.flags_path, read_flag_file(REPO_FLAG_FILE))
        self.current.clear()
        wait_until(self.landed, timeout_s=10, what=f"{changed} back to their defaults everywhere")


@pytest.fixture
def flags(native_stack: NativeStack) -> Iterator[StackFlags]:
    stack_flags = StackFlags(native_stack)
    yield stack_flags
    stack_flags.restore()


def no_retries(merchant: Merchant) -> stripe.StripeClient:
    """The merchant's client without the SDK's own retries: each call is one request."""
    return stripe.StripeClient(
        merchant.secret_key, base_addresses={"api": merchant.base_url}, max_network_retries=0
    )


def pay(client: stripe.StripeClient, key: str | None = None, **extra: Any) -> stripe.PaymentIntent:
    params: Any = {**CARD, **extra}
    options: Any = {"idempotency_key": key} if key else {}
    return client.v1.payment_intents.create(params=params, options=options)


def declined(client: stripe.StripeClient) -> stripe.CardError:
    with pytest.raises(stripe.CardError) as error:
        pay(client)
    return error.value


def outcome(client: stripe.StripeClient) -> str:
    """``succeeded`` or the decline code, for conditions (which must not raise)."""
    try:
        return pay(client).status
    except stripe.CardError as error:
        return (error.error.decline_code if error.error else None) or "declined"


def per_acquirer(urls: dict[str, str]) -> dict[str, int]:
    return {name: acquirer_stats({name: url})["authorizations"] for name, url in urls.items()}


# -- fault.acquirer ----------------------------------------------------------------------------


async def test_acquirer_down_fails_confirms_as_an_unreachable_acquirer_then_recovers(
    flags: StackFlags, merchant: Merchant, acquirers: dict[str, str]
) -> None:
    client = no_retries(merchant)
    assert pay(client).status == "succeeded"
    flags.set("fault.acquirer", "down")

    async def failing() -> bool:
        try:
            pay(client)
        except stripe.CardError as error:
            return error.code == "processing_error"
        return False

    await within_a_flip(failing, "confirms failing with fault.acquirer=down")
    # As with both acquirers killed: each tried once (smart retry), nothing reached either,
    # a 402 processing_error, and the intent left to pay again.
    before = acquirer_stats(acquirers)
    error = declined(client)
    assert (error.http_status, error.code) == (402, "processing_error")
    assert error.error is not None and error.error.payment_intent is not None
    intent_id = error.error.payment_intent["id"]
    assert client.v1.payment_intents.retrieve(intent_id).status == "requires_payment_method"
    assert acquirer_stats(acquirers) == before, "no authorization reached an acquirer"

    flags.set("fault.acquirer", "off")

    async def succeeding() -> bool:
        try:
            return pay(client).status == "succeeded"
        except stripe.CardError:
            return False

    await within_a_flip(succeeding, "confirms succeeding again")
    before = acquirer_stats(acquirers)
    confirmed = client.v1.payment_intents.confirm(
        intent_id, params={"payment_method": "pm_card_visa"}
    )
    assert (confirmed.status, confirmed.amount_received) == ("succeeded", 1500)
    assert acquirer_stats(acquirers)["authorizations"] - before["authorizations"] == 1


# -- payments.acquirerTimeouts -----------------------------------------------------------------


def answers_in_time(url: str) -> bool:
    try:
        httpx.get(f"{url}/authorizations/probe-{uuid.uuid4().hex}", timeout=0.5)
    except httpx.TimeoutException:
        return False
    return True


async def test_acquirer_timeouts_leave_every_payment_recoverable_and_charged_once(
    flags: StackFlags, merchant: Merchant, acquirers: dict[str, str]
) -> None:
    client = no_retries(merchant)
    flags.set("payments.acquirerTimeouts", "on")
    # Taken by every payments process in time; the probe itself costs half a second an
    # acquirer, so it checks the behaviour once the flip is in.
    await within_a_flip(flags.has_landed, "payments.acquirerTimeouts=on everywhere")
    assert not any(answers_in_time(url) for url in acquirers.values()), "answers held back"
    before = acquirer_stats(acquirers)
    run, key = uuid.uuid4().hex, f"k-{uuid.uuid4()}"

    def unanswered(key: str | None) -> stripe.APIError:
        with pytest.raises(stripe.APIError) as error:
            pay(client, key, metadata={"run": run})
        return error.value

    # As a timeout is today: the acquirer decided, payments could not find out (the call and
    # the reconciliation both timed out), so the answer is a 503 to retry, never a decline.
    keyed, unkeyed = await asyncio.gather(
        asyncio.to_thread(unanswered, key), asyncio.to_thread(unanswered, None)
    )
    for error in (keyed, unkeyed):
        # The SDK reads no code from a 5xx; the body has it.
        body: Any = error.json_body
        assert (error.http_status, body["error"]["code"]) == (503, "outcome_pending")
    intents = client.v1.payment_intents.list(params={"limit": 10}).data
    assert [i.status for i in intents] == ["processing", "processing"]
    charged = acquirer_stats(acquirers)
    assert charged["approved"] - before["approved"] == 2, "each charged, neither answered"

    flags.set("payments.acquirerTimeouts", "off")

    async def answering() -> bool:
        return all(answers_in_time(url) for url in acquirers.values())

    await within_a_flip(answering, "the acquirers answering again")

    async def retried() -> bool:
        # The reaper may be resuming it too (409 while it holds the key): retry, as Stripe says.
        try:
            return pay(client, key, metadata={"run": run}).status == "succeeded"
        except (stripe.APIError, stripe.IdempotencyError):
            return False

    await eventually(retried, timeout_s=30, what="the keyed payment resumed by its retry")

    async def reconciled() -> bool:
        listed = client.v1.payment_intents.list(params={"limit": 10}).data
        return [i.status for i in listed] == ["succeeded", "succeeded"]

    # The unkeyed one has no retry to resume it: the reconciler asks its acquirer.
    await eventually(reconciled, timeout_s=40, what="the unkeyed payment reconciled")
    after = acquirer_stats(acquirers)
    assert after["authorizations"] == charged["authorizations"], "nothing charged again"
    assert after["approved"] - before["approved"] == 2


# -- payments.idempotency ----------------------------------------------------------------------


async def test_ignoring_the_idempotency_key_lets_a_retry_charge_twice(
    flags: StackFlags, merchant: Merchant, acquirers: dict[str, str]
) -> None:
    client = no_retries(merchant)

    def retried_once() -> tuple[stripe.PaymentIntent, stripe.PaymentIntent, int]:
        """The same request twice with one key, as a client retrying a lost response does."""
        before = acquirer_stats(acquirers)["authorizations"]
        key = f"k-{uuid.uuid4()}"
        first, second = pay(client, key), pay(client, key)
        return first, second, acquirer_stats(acquirers)["authorizations"] - before

    first, second, charges = retried_once()
    assert (first.id, charges) == (second.id, 1), "enforced: the retry replays the first"

    flags.set("payments.idempotency", "ignored")

    async def guard_off() -> bool:
        first, second, _ = retried_once()
        return first.id != second.id

    await within_a_flip(guard_off, "retries running again with payments.idempotency=ignored")
    first, second, charges = retried_once()
    assert first.id != second.id and (first.status, second.status) == ("succeeded", "succeeded")
    assert charges == 2, "the customer paid twice: what the guard prevents"

    flags.set("payments.idempotency", "enforced")

    async def guard_on() -> bool:
        first, second, _ = retried_once()
        return first.id == second.id

    await within_a_flip(guard_on, "retries replayed again")


@pytest.fixture(scope="module")
def production_payments(
    devstack_root: Path,
    postgres_server: PostgresServer,
    kafka_server: KafkaServer,
    native_stack: NativeStack,
) -> Iterator[NativeStack]:
    """Payments in production mode (and its acquirers) with a flag file asking for
    ``payments.idempotency=ignored``; the database is the stack's, so merchants made there
    (development endpoints are off in production) pay here."""
    servers = _payments_servers(
        devstack_root / "payments-production", postgres_server, kafka_server
    )
    stack = NativeStack.create(servers)
    set_flag(stack.flags_path, "payments.idempotency", "ignored")
    stack.overrides = {"payments": {"PAYMENTS_ENVIRONMENT": "production"}}
    yield from _start(stack, [*ACQUIRERS, "payments"])


def test_production_refuses_to_ignore_the_idempotency_key(
    production_payments: NativeStack, merchant: Merchant
) -> None:
    client = stripe.StripeClient(
        merchant.secret_key,
        base_addresses={"api": production_payments.url("payments")},
        max_network_retries=0,
    )
    urls = {name: production_payments.url(name) for name in ACQUIRERS}
    before = acquirer_stats(urls)["authorizations"]
    key = f"k-{uuid.uuid4()}"
    first, second = pay(client, key), pay(client, key)
    assert first.id == second.id, "the guard stays enforced"
    assert acquirer_stats(urls)["authorizations"] - before == 1
    log = (production_payments.logs_dir() / "payments.log").read_text()
    refusals = [line for line in log.splitlines() if "flag_refused" in line]
    assert refusals and "payments.idempotency" in refusals[0] and "ignored" in refusals[0]


# -- payments.smartRetries and payments.routing ------------------------------------------------


async def test_without_smart_retries_a_soft_decline_is_the_customer_s_decline(
    flags: StackFlags, merchant: Merchant, acquirers: dict[str, str]
) -> None:
    first, second = acquirers
    set_profile(acquirers[first], soft_decline_rate=1.0)
    # Every first attempt at the soft-declining acquirer, so each confirm meets the decline.
    flags.set("payments.routing", "single_acquirer")
    client = no_retries(merchant)

    async def first_only() -> bool:
        # Three in a row: best rate, having seen the declines, would pick the other one.
        for _ in range(3):
            before = per_acquirer(acquirers)
            outcome(client)
            if per_acquirer(acquirers)[first] - before[first] != 1:
                return False
        return True

    await within_a_flip(first_only, f"every first attempt at {first}")
    before = per_acquirer(acquirers)
    assert [pay(client).status for _ in range(5)] == ["succeeded"] * 5
    after = per_acquirer(acquirers)
    assert after[second] - before[second] == 5, f"each declined at {first}, approved at {second}"

    flags.set("payments.smartRetries", "off")

    async def not_retried() -> bool:
        return outcome(client) == "try_again_later"

    await within_a_flip(not_retried, "soft declines no longer retried")
    before = per_acquirer(acquirers)
    errors = [declined(client) for _ in range(5)]
    assert {(e.code, e.error.decline_code if e.error else None) for e in errors} == {
        ("card_declined", "try_again_later")
    }
    after = per_acquirer(acquirers)
    assert (after[first] - before[first], after[second] - before[second]) == (5, 0)


async def test_single_acquirer_sends_every_payment_to_the_first_acquirer(
    flags: StackFlags, merchant: Merchant, acquirers: dict[str, str]
) -> None:
    first, second = acquirers
    # A soft-declining first acquirer, no retries: what routing alone does with it.
    set_profile(acquirers[first], soft_decline_rate=1.0)
    flags.set("payments.smartRetries", "off")
    flags.set("payments.routing", "single_acquirer")
    client = no_retries(merchant)

    async def routed_to_first() -> bool:
        for _ in range(3):  # in a row, as above
            before = per_acquirer(acquirers)
            if outcome(client) != "try_again_later":
                return False
            after = per_acquirer(acquirers)
            if (after[first] - before[first], after[second] - before[second]) != (1, 0):
                return False
        return True

    await within_a_flip(routed_to_first, f"payments routed to {first} alone")
    before = per_acquirer(acquirers)
    for _ in range(10):
        declined(client)
    after = per_acquirer(acquirers)
    assert (after[first] - before[first], after[second] - before[second]) == (10, 0)

    # Best rate has watched all those declines: it sends (nearly) every payment elsewhere.
    flags.set("payments.routing", "best_rate")

    async def routed_by_rate() -> bool:
        before = per_acquirer(acquirers)
        outcome(client)
        return per_acquirer(acquirers)[second] - before[second] == 1

    await within_a_flip(routed_by_rate, f"payments routed to {second} by its rate")
    before = per_acquirer(acquirers)
    outcomes = [outcome(client) for _ in range(10)]
    after = per_acquirer(acquirers)
    # Exploration sends one in twenty to the worse acquirer on purpose: allow a few.
    assert after[second] - before[second] >= 7, after
    assert outcomes.count("succeeded") == after[second] - before[second]
