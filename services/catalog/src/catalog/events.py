"""What the catalog publishes: playback telemetry on Kafka ``catalog.plays``, keyed by profile,
which the catalog itself consumes into viewing history and live popularity."""

from datetime import datetime
from typing import Literal, get_args

from pydantic import ConfigDict, Field

from stackkit.events import EventData, EventTypes
from stackkit.kafka import TopicSpec

PLAYS = TopicSpec("catalog.plays")
TOPICS = [PLAYS]

PlayKind = Literal["start", "progress", "stop"]
PLAY_TYPE_PREFIX = "catalog.play."
ID = r"^[A-Za-z0-9_.:-]{1,64}$"


class Play(EventData):
    # A playback start, progress or stop as players report it (the HTTP body is this model)
    # and as it travels, typed by its kind (catalog.play.start). A comment, not a docstring:
    # the docstring would become the request body's description in the OpenAPI document.

    model_config = ConfigDict(extra="forbid")
    TYPES = tuple(f"{PLAY_TYPE_PREFIX}{kind}" for kind in get_args(PlayKind))

    profile_id: str = Field(pattern=ID)
    title_id: str = Field(pattern=ID)
    kind: PlayKind
    position_s: int = Field(ge=0, le=86_400)
    region: str = Field(min_length=1, max_length=32)
    isp: str | None = Field(default=None, min_length=1, max_length=64)
    at: datetime

    def event_type(self) -> str:
        return f"{PLAY_TYPE_PREFIX}{self.kind}"

    def subject(self) -> str:
        return self.profile_id


EVENTS = EventTypes("catalog", Play)
