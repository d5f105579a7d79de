"""Stripe-style test cards: the card number decides what every acquirer answers.

| card             | payment_method token                    | outcome                  |
|------------------|-----------------------------------------|--------------------------|
| 4242424242424242 | pm_card_visa                            | approved                 |
| 5555555555554444 | pm_card_mastercard                      | approved                 |
| 378282246310005  | pm_card_amex                            | approved                 |
| 4000000000000002 | pm_card_chargeDeclined                  | hard: generic_decline    |
| 4000000000009995 | pm_card_chargeDeclinedInsufficientFunds | hard: insufficient_funds |
| 4000000000000069 | pm_card_chargeDeclinedExpiredCard       | hard: expired_card       |
| 4000000000000119 | pm_card_chargeDeclinedProcessingError   | soft: processing_error   |
| 4000000000001976 | pm_card_chargeDeclinedTryAgainLater     | soft: try_again_later    |
| 4000000000000341 | pm_card_acquirerTimeout                 | the acquirer never answers |

Approved cards can still be soft-declined or time out by an acquirer's run-time profile.
"""

from dataclasses import dataclass
from enum import StrEnum

from payments.domain.errors import InvalidRequest


class Outcome(StrEnum):
    APPROVE = "approve"
    DECLINE = "decline"
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class Card:
    number: str
    brand: str
    outcome: Outcome = Outcome.APPROVE
    decline_code: str | None = None

    @property
    def last4(self) -> str:
        return self.number[-4:]


# Declines worth retrying elsewhere: the issuer or the network, not the cardholder.
SOFT_DECLINES = frozenset({"try_again_later", "processing_error", "issuer_not_available"})

TEST_CARDS = {
    "4242424242424242": Card("4242424242424242", "visa"),
    "5555555555554444": Card("5555555555554444", "mastercard"),
    "378282246310005": Card("378282246310005", "amex"),
    "4000000000000002": Card("4000000000000002", "visa", Outcome.DECLINE, "generic_decline"),
    "4000000000009995": Card("4000000000009995", "visa", Outcome.DECLINE, "insufficient_funds"),
    "4000000000000069": Card("4000000000000069", "visa", Outcome.DECLINE, "expired_card"),
    "4000000000000119": Card("4000000000000119", "visa", Outcome.DECLINE, "processing_error"),
    "4000000000001976": Card("4000000000001976", "visa", Outcome.DECLINE, "try_again_later"),
    "4000000000000341": Card("4000000000000341", "visa", Outcome.TIMEOUT),
}

TOKENS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_amex": "378282246310005",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeDeclinedExpiredCard": "4000000000000069",
    "pm_card_chargeDeclinedProcessingError": "4000000000000119",
    "pm_card_chargeDeclinedTryAgainLater": "4000000000001976",
    "pm_card_acquirerTimeout": "4000000000000341",
}


def brand_of(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"51", "52", "53", "54", "55"} or number[:2] == "22":
        return "mastercard"
    if number[:2] in {"34", "37"}:
        return "amex"
    return "unknown"


def luhn_valid(number: str) -> bool:
    digits = [int(d) for d in reversed(number)]
    total = sum(digits[0::2]) + sum(sum(divmod(2 * d, 10)) for d in digits[1::2])
    return total % 10 == 0


def card_for(payment_method: str | None, card_number: str | None = None) -> Card:
    """The card behind a test token (``pm_card_visa``) or a raw test card number."""
    if payment_method is not None:
        number = TOKENS.get(payment_method)
        if number is None:
            raise InvalidRequest(
                f"No such PaymentMethod: '{payment_method}'",
                param="payment_method",
                code="resource_missing",
            )
        return TEST_CARDS[number]
    if card_number is None:
        raise InvalidRequest(
            "You must provide a payment_method.", param="payment_method", code="parameter_missing"
        )
    number = card_number.replace(" ", "")
    if not number.isdigit() or not 12 <= len(number) <= 19 or not luhn_valid(number):
        raise InvalidRequest(
            "Your card number is incorrect.",
            param="payment_method_data[card][number]",
            code="incorrect_number",
        )
    return TEST_CARDS.get(number, Card(number, brand_of(number)))
