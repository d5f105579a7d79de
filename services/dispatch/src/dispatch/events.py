"""What dispatch publishes: drivers' positions on ``dispatch.locations`` (keyed by driver) and
every step of a trip on ``dispatch.trips`` (keyed by trip, through the outbox)."""

from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from dispatch.domain.trips import TripAction, TripStatus
from stackkit.events import Event, EventData, EventTypes
from stackkit.kafka import TopicSpec

LOCATIONS = TopicSpec("dispatch.locations")
TRIPS = TopicSpec("dispatch.trips")
TOPICS = [LOCATIONS, TRIPS]

DriverStatus = Literal["offline", "available", "on_trip"]


class DriverPosition(EventData):
    """A driver's position as applied to the index. The driver travels as the envelope's
    subject (the Kafka key), not in the data: parse with :func:`parse` to get it back."""

    TYPES = ("dispatch.driver.location",)

    driver_id: str | None = Field(default=None, exclude=True)
    lat: float
    lng: float
    status: DriverStatus
    ts_ms: int

    def subject(self) -> str:
        if self.driver_id is None:
            raise ValueError("a location is published for a driver")
        return self.driver_id


TRIP_TYPE_PREFIX = "dispatch.trip."
TripChange = Literal["requested"] | TripAction
"""A trip's first event is ``requested``; each one after it is named for its lifecycle action."""


class TripChanged(EventData):
    """One step of a trip, named in the type (``dispatch.trip.accept``), with the trip's state
    after it. A field the trip row did not hold yet (a just requested trip has no driver
    columns) stays out of the data."""

    TYPES = tuple(f"{TRIP_TYPE_PREFIX}{change}" for change in ("requested", *TripAction))

    change: TripChange = Field(exclude=True)
    id: str
    rider_id: str
    status: TripStatus
    surge: float
    fare_amount: int
    driver_id: str | None = None
    offered_driver: str | None = None

    @classmethod
    def of(cls, trip: Mapping[str, Any], change: TripChange) -> Self:
        """From a trip row (any other columns it has are not published)."""
        fields = {name: trip[name] for name in cls.model_fields if name in trip}
        return cls.model_validate({**fields, "change": change})

    @model_serializer(mode="wrap")
    def _only_what_the_row_held(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        dumped: dict[str, Any] = handler(self)
        return {name: value for name, value in dumped.items() if name in self.model_fields_set}

    def event_type(self) -> str:
        return f"{TRIP_TYPE_PREFIX}{self.change}"

    def subject(self) -> str:
        return self.id

    @classmethod
    def from_envelope(cls, event_type: str, data: dict[str, Any]) -> Self:
        return cls.model_validate({**data, "change": event_type.removeprefix(TRIP_TYPE_PREFIX)})


EVENTS = EventTypes("dispatch", DriverPosition, TripChanged)


def parse(event: Event) -> EventData:
    """:meth:`EVENTS.parse`, with a location's driver taken back from the envelope's subject."""
    data = EVENTS.parse(event)
    if isinstance(data, DriverPosition):
        return data.model_copy(update={"driver_id": event.subject})
    return data
