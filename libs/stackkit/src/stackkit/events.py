"""The CloudEvents-style envelope every event on the backbone carries."""

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

import orjson
from pydantic import BaseModel, ConfigDict, Field


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


class Event(BaseModel):
    """``subject`` is the entity whose order matters (channel, trip, payment): the Kafka key."""

    model_config = ConfigDict(frozen=True)

    specversion: str = "1.0"
    id: str = Field(default_factory=new_event_id, min_length=1)
    type: str = Field(min_length=1, description="e.g. 'payments.payment_intent.succeeded'")
    source: str = Field(min_length=1, description="the service that published it")
    subject: str = Field(min_length=1)
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    data: dict[str, Any] = Field(default_factory=dict)

    def encode(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def decode(cls, raw: bytes) -> "Event":
        """Raises ``pydantic.ValidationError`` (a ``ValueError``) on anything but an envelope."""
        return cls.model_validate_json(raw)


class EventData(BaseModel):
    """The typed data of one kind of event. A service declares each kind in its ``events.py``
    as a subclass naming ``TYPES`` (the envelope ``type`` strings it travels under, usually
    one) and how its ``subject`` (the Kafka key) follows from the data. Producers build
    envelopes only through :meth:`EventTypes.event`, consumers get these models back from
    :meth:`EventTypes.parse` and dispatch on the class, never on a string compare."""

    model_config = ConfigDict(frozen=True)

    TYPES: ClassVar[tuple[str, ...]]

    def event_type(self) -> str:
        """The envelope type of this instance; kinds with several ``TYPES`` choose by data."""
        return self.TYPES[0]

    def subject(self) -> str:
        raise NotImplementedError

    @classmethod
    def from_envelope(cls, event_type: str, data: dict[str, Any]) -> Self:
        """Kinds with several ``TYPES`` whose data does not say which override this."""
        return cls.model_validate(data)


class UnknownEventType(ValueError):
    """An envelope whose type the service does not declare (a newer producer, or a stray)."""


class EventTypes:
    """The event kinds one service publishes: its vocabulary on the backbone."""

    def __init__(self, source: str, *kinds: type[EventData]) -> None:
        self.source = source
        self._by_type: dict[str, type[EventData]] = {}
        for kind in kinds:
            for name in kind.TYPES:
                if name in self._by_type:
                    raise ValueError(f"event type {name!r} declared twice")
                self._by_type[name] = kind

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._by_type)

    def event(self, data: EventData, *, event_id: str | None = None) -> Event:
        name = data.event_type()
        if self._by_type.get(name) is not type(data):
            raise UnknownEventType(f"{type(data).__name__} does not travel as {name!r}")
        fields: dict[str, Any] = {"id": event_id} if event_id is not None else {}
        return Event(type=name, source=self.source, subject=data.subject(),
                     data=data.model_dump(mode="json"), **fields)  # fmt: skip

    def parse(self, event: Event) -> EventData:
        """The typed data of ``event``; raises :class:`UnknownEventType` or pydantic's
        ``ValidationError`` (both ``ValueError``s, so a consumer dead-letters them)."""
        kind = self._by_type.get(event.type)
        if kind is None:
            raise UnknownEventType(f"{self.source} does not publish {event.type!r}")
        return kind.from_envelope(event.type, event.data)
