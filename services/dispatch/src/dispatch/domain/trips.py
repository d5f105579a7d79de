"""The trip lifecycle, validated: requested -> dispatching -> accepted -> arrived ->
in_progress -> completed, with no_drivers and canceled as the other ways out."""

from enum import StrEnum

from stackkit.errors import Conflict
from stackkit.statemachine import StateMachine


class TripStatus(StrEnum):
    REQUESTED = "requested"
    DISPATCHING = "dispatching"
    ACCEPTED = "accepted"
    ARRIVED = "arrived"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELED = "canceled"
    NO_DRIVERS = "no_drivers"


class TripAction(StrEnum):
    DISPATCH = "dispatch"  # start offering to drivers
    OFFER_NEXT = "offer_next"  # the offered driver declined or timed out
    ACCEPT = "accept"
    EXHAUST = "exhaust"  # nobody left to offer
    ARRIVE = "arrive"
    START = "start"
    COMPLETE = "complete"
    CANCEL = "cancel"


class IllegalTripTransition(Conflict):
    code = "trip_unexpected_state"


T, X = TripStatus, TripAction
TRIP_TRANSITIONS = {
    (T.REQUESTED, X.DISPATCH): T.DISPATCHING,
    (T.DISPATCHING, X.OFFER_NEXT): T.DISPATCHING,
    (T.DISPATCHING, X.ACCEPT): T.ACCEPTED,
    (T.DISPATCHING, X.EXHAUST): T.NO_DRIVERS,
    (T.ACCEPTED, X.ARRIVE): T.ARRIVED,
    (T.ARRIVED, X.START): T.IN_PROGRESS,
    (T.IN_PROGRESS, X.COMPLETE): T.COMPLETED,
    (T.REQUESTED, X.CANCEL): T.CANCELED,
    (T.DISPATCHING, X.CANCEL): T.CANCELED,
    (T.ACCEPTED, X.CANCEL): T.CANCELED,
    (T.ARRIVED, X.CANCEL): T.CANCELED,
}


def _refuse(status: TripStatus, action: TripAction, allowed: list[str]) -> IllegalTripTransition:
    return IllegalTripTransition(
        f"cannot {action.value} a trip that is {status.value}"
        + (f"; only from: {', '.join(allowed)}" if allowed else "")
    )


TRIP_LIFECYCLE = StateMachine(TRIP_TRANSITIONS, _refuse)

# The statuses in which a driver is committed to the trip: a driver holds at most one.
HOLDS_DRIVER = frozenset({T.ACCEPTED, T.ARRIVED, T.IN_PROGRESS})


class DecisionOutcome(StrEnum):
    """How a trip request's decision ended (``dispatch_decision_seconds``' ``outcome``)."""

    OFFERED = "offered"
    NO_DRIVER = "no_driver"
    CANCELED = "canceled"
    """The rider canceled before the decision was answered."""
    ERROR = "error"
    """No decision: the request failed (a store down, the owner's error answer)."""


def decision_outcome(status: str | None) -> DecisionOutcome:
    """The outcome of a decision that left the trip in ``status`` (``None``: no trip)."""
    if status == T.NO_DRIVERS:
        return DecisionOutcome.NO_DRIVER
    if status == T.CANCELED:
        return DecisionOutcome.CANCELED
    # Dispatching: a driver has the offer; further on, the offered driver was already quick
    # to accept. Requested, or no trip, is a decision that did not happen.
    if status == T.DISPATCHING or status in HOLDS_DRIVER or status == T.COMPLETED:
        return DecisionOutcome.OFFERED
    return DecisionOutcome.ERROR
