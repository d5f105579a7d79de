"""The CloudEvents-style envelope every event on the backbone carries."""

import uuid
from datetime import UTC, datetime
from typing import Any

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
