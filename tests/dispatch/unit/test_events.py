"""Dispatch's events as code: the wire format of each kind, and its way back to the model."""

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from dispatch.domain.trips import TripAction, TripStatus
from dispatch.events import EVENTS, DriverPosition, TripChanged, parse
from stackkit.events import Event, UnknownEventType

REQUESTED_ROW: dict[str, Any] = {
    "id": "trip_1",
    "rider_id": "r1",
    "status": "requested",
    "pickup_lat": 41.0,
    "pickup_lng": 29.0,
    "dropoff_lat": 41.1,
    "dropoff_lng": 29.1,
    "area": "a1",
    "surge": 1.2,
    "fare_amount": 900,
}
"""The row ``Trips.request`` builds: no driver columns yet."""

STORED_ROW: dict[str, Any] = {
    **REQUESTED_ROW,
    "status": "accepted",
    "driver_id": "d1",
    "offered_driver": None,
    "offer_expires_at": None,
    "declined": ["d0"],
    "created": datetime(2026, 1, 1, tzinfo=UTC),
    "updated": datetime(2026, 1, 1, tzinfo=UTC),
}
"""A row as the store reads it back: every column."""


def test_a_requested_trip_publishes_the_columns_it_has_and_no_driver_keys() -> None:
    event = EVENTS.event(TripChanged.of(REQUESTED_ROW, "requested"))
    assert (event.type, event.source, event.subject) == (
        "dispatch.trip.requested",
        "dispatch",
        "trip_1",
    )
    assert event.data == {
        "id": "trip_1",
        "rider_id": "r1",
        "status": "requested",
        "surge": 1.2,
        "fare_amount": 900,
    }


def test_a_stored_trip_publishes_its_driver_columns_even_when_empty() -> None:
    event = EVENTS.event(TripChanged.of(STORED_ROW, TripAction.ACCEPT))
    assert event.type == "dispatch.trip.accept"
    assert event.data == {
        "id": "trip_1",
        "rider_id": "r1",
        "status": "accepted",
        "surge": 1.2,
        "fare_amount": 900,
        "driver_id": "d1",
        "offered_driver": None,
    }


@pytest.mark.parametrize("change", ["requested", *TripAction])
def test_every_trip_change_has_its_type_and_comes_back_as_the_same_model(
    change: str | TripAction,
) -> None:
    changed = TripChanged.of(STORED_ROW, change)  # type: ignore[arg-type]
    event = EVENTS.event(changed)
    assert event.type == f"dispatch.trip.{change}"
    back = EVENTS.parse(Event.decode(event.encode()))
    assert back == changed
    assert isinstance(back, TripChanged) and back.status is TripStatus.ACCEPTED
    assert back.model_fields_set == changed.model_fields_set


def test_a_requested_event_read_back_still_has_no_driver_keys() -> None:
    event = EVENTS.event(TripChanged.of(REQUESTED_ROW, "requested"))
    back = EVENTS.parse(Event.decode(event.encode()))
    assert EVENTS.event(back).data == event.data


def test_the_trip_types_are_requested_and_one_per_action() -> None:
    assert set(TripChanged.TYPES) == {"dispatch.trip.requested"} | {
        f"dispatch.trip.{action.value}" for action in TripAction
    }
    assert EVENTS.names == {*TripChanged.TYPES, "dispatch.driver.location"}


def test_an_unknown_change_or_status_is_refused() -> None:
    with pytest.raises(ValidationError):
        TripChanged.of(REQUESTED_ROW, "teleport")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        TripChanged.of({**REQUESTED_ROW, "status": "lost"}, "requested")
    with pytest.raises(UnknownEventType):
        EVENTS.parse(Event(type="dispatch.trip.teleport", source="dispatch", subject="t"))


def test_a_position_travels_keyed_by_its_driver_who_is_not_in_the_data() -> None:
    position = DriverPosition(driver_id="d7", lat=41.0, lng=29.0, status="available", ts_ms=5)
    event = EVENTS.event(position)
    assert (event.type, event.subject) == ("dispatch.driver.location", "d7")
    assert event.data == {"lat": 41.0, "lng": 29.0, "status": "available", "ts_ms": 5}
    back = parse(Event.decode(event.encode()))
    assert back == position and isinstance(back, DriverPosition) and back.driver_id == "d7"


def test_parse_leaves_other_kinds_as_they_are() -> None:
    event = EVENTS.event(TripChanged.of(STORED_ROW, TripAction.COMPLETE))
    assert parse(event) == EVENTS.parse(event)


def test_a_position_needs_its_driver_to_be_published_and_a_known_status() -> None:
    with pytest.raises(ValueError, match="for a driver"):
        EVENTS.event(DriverPosition(lat=0.0, lng=0.0, status="offline", ts_ms=1))
    with pytest.raises(ValidationError):
        DriverPosition(driver_id="d", lat=0.0, lng=0.0, status="asleep", ts_ms=1)
