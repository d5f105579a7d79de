"""What the edge publishes: each change set of the config plane on Kafka ``edge.config``, which
every PoP follows (through the outbox, in version order)."""

from typing import Any, Self

from edge.domain.config import ChangeSet
from stackkit.events import EventData, EventTypes
from stackkit.kafka import TopicSpec

CONFIG_TOPIC = TopicSpec("edge.config", partitions=1)
"""One partition: every PoP sees changes in version order."""
TOPICS = [CONFIG_TOPIC]


class ConfigChanged(EventData):
    """One change set, as the log numbered it; ``None`` in ``entries`` deletes a key."""

    TYPES = ("edge.config.changed",)

    version: int
    written_at: float
    entries: dict[str, Any]

    @classmethod
    def of(cls, change: ChangeSet) -> Self:
        return cls(version=change.version, written_at=change.written_at, entries=change.entries)

    def change_set(self) -> ChangeSet:
        return ChangeSet(self.version, self.written_at, dict(self.entries))

    def subject(self) -> str:
        return "config"  # one key: the config is one sequence


EVENTS = EventTypes("edge", ConfigChanged)
