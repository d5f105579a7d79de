"""Stripe's rules as pure code: the state machine, money, cards, routing, retries, ledger."""

import itertools
import random

import pytest

from payments.domain import ledger
from payments.domain.cards import TEST_CARDS, TOKENS, card_for, luhn_valid
from payments.domain.errors import InvalidRequest, UnexpectedState
from payments.domain.intents import TRANSITIONS, Action, Status, can, transition
from payments.domain.money import validate_amount, validate_currency
from payments.domain.routing import (
    Attempt,
    AttemptResult,
    AuthorizationStats,
    RetryPolicy,
    choose_acquirer,
)

# -- state machine -----------------------------------------------------------------------------

HAPPY_PATHS = [
    [Action.ATTACH_PAYMENT_METHOD, Action.CONFIRM, Action.CAPTURED],
    [Action.ATTACH_PAYMENT_METHOD, Action.CONFIRM, Action.AUTHORIZED_FOR_CAPTURE, Action.CAPTURE],
    [Action.ATTACH_PAYMENT_METHOD, Action.CONFIRM, Action.AUTHORIZED_FOR_CAPTURE, Action.CANCEL],
    [Action.ATTACH_PAYMENT_METHOD, Action.CONFIRM, Action.DECLINED, Action.ATTACH_PAYMENT_METHOD,
     Action.CONFIRM, Action.CAPTURED],
    [Action.CANCEL],
]  # fmt: skip


@pytest.mark.parametrize("path", HAPPY_PATHS)
def test_stripe_lifecycles_are_allowed(path: list[Action]) -> None:
    status = Status.REQUIRES_PAYMENT_METHOD
    for action in path:
        status = transition(status, action)
    assert status in (Status.SUCCEEDED, Status.CANCELED)


@pytest.mark.parametrize(("status", "action"), list(itertools.product(Status, Action)))
def test_every_status_and_action_pair_is_decided(status: Status, action: Action) -> None:
    if (status, action) in TRANSITIONS:
        assert transition(status, action) == TRANSITIONS[(status, action)]
        assert can(status, action)
    else:
        with pytest.raises(UnexpectedState, match=f"status of {status.value}"):
            transition(status, action)
        assert not can(status, action)


@pytest.mark.parametrize("terminal", [Status.SUCCEEDED, Status.CANCELED])
def test_terminal_statuses_have_no_way_out(terminal: Status) -> None:
    assert not [action for action in Action if can(terminal, action)]


def test_an_illegal_transition_says_what_is_allowed() -> None:
    with pytest.raises(UnexpectedState) as error:
        transition(Status.SUCCEEDED, Action.CAPTURE)
    assert "requires_capture" in error.value.message
    assert error.value.code == "payment_intent_unexpected_state"


# -- money -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "code"),
    [(49, "usd", "amount_too_small"), (-5, "usd", "amount_too_small"), (0, "eur", "amount_too_small"),
     (100_000_000, "usd", "amount_too_large")],
)  # fmt: skip
def test_amount_bounds(amount: int, currency: str, code: str) -> None:
    with pytest.raises(InvalidRequest) as error:
        validate_amount(amount, currency)
    assert (error.value.code, error.value.param) == (code, "amount")


def test_currencies_are_normalised_and_checked() -> None:
    assert validate_currency("USD") == "usd"
    with pytest.raises(InvalidRequest) as error:
        validate_currency("xyz")
    assert error.value.param == "currency"
    with pytest.raises(InvalidRequest, match="Missing"):
        validate_currency("")


# -- cards -------------------------------------------------------------------------------------


def test_every_test_card_is_luhn_valid_and_tokenised() -> None:
    assert all(luhn_valid(number) for number in TEST_CARDS)
    assert set(TOKENS.values()) == set(TEST_CARDS)


def test_cards_from_tokens_and_numbers() -> None:
    assert card_for("pm_card_visa").brand == "visa"
    assert card_for(None, "5555 5555 5555 4444").brand == "mastercard"
    assert card_for(None, "4000000000009995").decline_code == "insufficient_funds"
    with pytest.raises(InvalidRequest) as error:
        card_for(None, "4242424242424241")
    assert error.value.code == "incorrect_number"
    with pytest.raises(InvalidRequest) as missing:
        card_for("pm_nope")
    assert missing.value.param == "payment_method"


# -- routing and retries -----------------------------------------------------------------------


def test_routing_prefers_the_best_recent_authorization_rate() -> None:
    stats = AuthorizationStats(window=10)
    for _ in range(10):
        stats.record("a", "visa", "eu", False)
        stats.record("b", "visa", "eu", True)
    rng = random.Random(1)
    picks = [
        choose_acquirer(["a", "b"], stats, "visa", "eu", rng, exploration=0.0) for _ in range(20)
    ]
    assert set(picks) == {"b"}
    assert choose_acquirer(["a", "b"], stats, "visa", "us", rng, exploration=0.0) == "a", (
        "no data: the first"
    )


def test_routing_explores_and_forgets_old_outcomes() -> None:
    stats = AuthorizationStats(window=5)
    for _ in range(5):
        stats.record("a", "visa", "eu", False)
    picks = {
        choose_acquirer(["a", "b"], stats, "visa", "eu", random.Random(seed), exploration=0.5)
        for seed in range(40)
    }
    assert picks == {"a", "b"}
    for _ in range(5):
        stats.record("a", "visa", "eu", True)
    assert stats.rate("a", "visa", "eu") == 6 / 7


def test_routing_skips_tried_acquirers() -> None:
    stats = AuthorizationStats()
    rng = random.Random(0)
    assert choose_acquirer(["a", "b"], stats, "visa", "eu", rng, exclude=frozenset({"a"})) == "b"
    assert (
        choose_acquirer(["a", "b"], stats, "visa", "eu", rng, exclude=frozenset({"a", "b"})) is None
    )


@pytest.mark.parametrize(
    ("history", "retry"),
    [
        ([Attempt("a", AttemptResult.DECLINED, "try_again_later")], True),
        ([Attempt("a", AttemptResult.DECLINED, "processing_error")], True),
        ([Attempt("a", AttemptResult.TIMED_OUT)], True),
        ([Attempt("a", AttemptResult.UNREACHED)], True),
        ([Attempt("a", AttemptResult.DECLINED, "insufficient_funds")], False),
        ([Attempt("a", AttemptResult.DECLINED, "generic_decline")], False),
        ([Attempt("a", AttemptResult.APPROVED)], False),
        ([Attempt(n, AttemptResult.DECLINED, "try_again_later") for n in "abc"], False),
        ([], False),
    ],
)
def test_smart_retries_only_retry_soft_failures_within_budget(
    history: list[Attempt], retry: bool
) -> None:
    assert RetryPolicy(max_attempts=3).should_retry(history) is retry


# -- ledger ------------------------------------------------------------------------------------


def test_every_posting_balances() -> None:
    postings = [ledger.authorization(1000), ledger.release(1000), ledger.capture(600, 1000),
                ledger.refund(200, 600, 100)]  # fmt: skip
    for entries in postings:
        assert sum(entry.amount for entry in entries) == 0


def test_a_partial_capture_releases_the_rest_of_the_hold() -> None:
    entries = ledger.authorization(1000) + ledger.capture(600, 1000)
    balances: dict[str, int] = {}
    for entry in entries:
        balances[entry.account] = balances.get(entry.account, 0) + entry.amount
    assert balances == {
        "card_holds": 0,
        "authorized_funds": 0,
        "acquirer_receivable": 600,
        "merchant_balance": -600,
    }


@pytest.mark.parametrize(
    ("amount", "captured", "refunded"), [(701, 700, 0), (1, 700, 700), (0, 700, 0), (-5, 700, 0)]
)
def test_refunds_never_exceed_what_was_captured(amount: int, captured: int, refunded: int) -> None:
    with pytest.raises(InvalidRequest) as error:
        ledger.refund(amount, captured, refunded)
    assert error.value.param == "amount"


def test_captures_stay_within_the_authorization() -> None:
    with pytest.raises(InvalidRequest) as error:
        ledger.capture(1001, 1000)
    assert error.value.code == "amount_too_large"
