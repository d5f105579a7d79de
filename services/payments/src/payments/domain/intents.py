"""The PaymentIntent state machine: Stripe's statuses and which action may move which.

Every transition goes through :func:`transition`; anything else is an
:class:`UnexpectedState` error (a 400), never a silently corrupt row.
"""

from enum import StrEnum

from payments.domain.errors import UnexpectedState
from stackkit.statemachine import StateMachine


class Status(StrEnum):
    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    REQUIRES_CONFIRMATION = "requires_confirmation"
    PROCESSING = "processing"
    REQUIRES_CAPTURE = "requires_capture"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"


class Action(StrEnum):
    ATTACH_PAYMENT_METHOD = "attach_payment_method"
    UPDATE = "update"
    CONFIRM = "confirm"
    AUTHORIZED_FOR_CAPTURE = "authorized_for_capture"
    CAPTURED = "captured"  # automatic capture at authorization, or an explicit capture
    DECLINED = "declined"
    CAPTURE = "capture"
    CANCEL = "cancel"


S, A = Status, Action
TRANSITIONS: dict[tuple[Status, Action], Status] = {
    (S.REQUIRES_PAYMENT_METHOD, A.ATTACH_PAYMENT_METHOD): S.REQUIRES_CONFIRMATION,
    (S.REQUIRES_CONFIRMATION, A.ATTACH_PAYMENT_METHOD): S.REQUIRES_CONFIRMATION,
    (S.REQUIRES_PAYMENT_METHOD, A.UPDATE): S.REQUIRES_PAYMENT_METHOD,
    (S.REQUIRES_CONFIRMATION, A.UPDATE): S.REQUIRES_CONFIRMATION,
    (S.REQUIRES_CONFIRMATION, A.CONFIRM): S.PROCESSING,
    (S.PROCESSING, A.AUTHORIZED_FOR_CAPTURE): S.REQUIRES_CAPTURE,
    (S.PROCESSING, A.CAPTURED): S.SUCCEEDED,
    (S.PROCESSING, A.DECLINED): S.REQUIRES_PAYMENT_METHOD,
    (S.REQUIRES_CAPTURE, A.CAPTURE): S.SUCCEEDED,
    (S.REQUIRES_PAYMENT_METHOD, A.CANCEL): S.CANCELED,
    (S.REQUIRES_CONFIRMATION, A.CANCEL): S.CANCELED,
    (S.REQUIRES_CAPTURE, A.CANCEL): S.CANCELED,
}

_VERBS = {
    A.ATTACH_PAYMENT_METHOD: "attach a payment method to",
    A.UPDATE: "update",
    A.CONFIRM: "confirm",
    A.CAPTURE: "capture",
    A.CANCEL: "cancel",
}


def _refuse(status: Status, action: Action, allowed: list[str]) -> UnexpectedState:
    verb = _VERBS.get(action, f"apply {action.value} to")
    message = f"You cannot {verb} this PaymentIntent because it has a status of {status.value}."
    if allowed:
        message += f" Only a PaymentIntent with one of these statuses can: {', '.join(allowed)}."
    return UnexpectedState(message)


LIFECYCLE = StateMachine(TRANSITIONS, _refuse)


def transition(status: Status, action: Action) -> Status:
    """The status after ``action``, or :class:`UnexpectedState` naming both."""
    return LIFECYCLE.next(status, action)


def can(status: Status, action: Action) -> bool:
    return LIFECYCLE.can(status, action)
