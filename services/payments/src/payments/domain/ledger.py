"""Double-entry bookkeeping for a payment's money movements; every posting sums to zero.

Accounts (per merchant): ``card_holds`` (funds held on the card by an authorization),
``authorized_funds`` (its other side), ``acquirer_receivable`` (captured money the acquirer
owes us), ``merchant_balance`` (what we owe the merchant).
"""

from dataclasses import dataclass

from payments.domain.errors import InvalidRequest


@dataclass(frozen=True)
class Entry:
    account: str
    amount: int  # debit positive, credit negative


def _balanced(entries: list[Entry]) -> list[Entry]:
    assert sum(e.amount for e in entries) == 0, entries
    return entries


def authorization(amount: int) -> list[Entry]:
    return _balanced([Entry("card_holds", amount), Entry("authorized_funds", -amount)])


def release(amount: int) -> list[Entry]:
    return _balanced([Entry("authorized_funds", amount), Entry("card_holds", -amount)])


def capture(captured: int, authorized: int) -> list[Entry]:
    """Capture ``captured`` of an ``authorized`` hold; the rest of the hold is released."""
    if not 0 < captured <= authorized:
        raise InvalidRequest(
            f"amount_to_capture must be between 1 and the authorized amount ({authorized}).",
            param="amount_to_capture",
            code="amount_too_large" if captured > authorized else "parameter_invalid",
        )
    return _balanced(
        [
            *release(authorized),
            Entry("acquirer_receivable", captured),
            Entry("merchant_balance", -captured),
        ]
    )


def refund(amount: int, captured: int, already_refunded: int) -> list[Entry]:
    """Refund ``amount``; never more than what was captured minus earlier refunds."""
    remaining = captured - already_refunded
    if amount <= 0:
        raise InvalidRequest(
            "Refund amount must be positive.", param="amount", code="parameter_invalid"
        )
    if amount > remaining:
        raise InvalidRequest(
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
            param="amount",
            code="charge_already_refunded" if remaining == 0 else "amount_too_large",
        )
    return _balanced([Entry("merchant_balance", amount), Entry("acquirer_receivable", -amount)])
