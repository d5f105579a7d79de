"""Presence without storms: changes are coalesced per flush, so a user flapping ten times in a
second is one event, and a thousand users connecting at once is one batched event per peer."""

from dataclasses import dataclass, field
from typing import Literal

Presence = Literal["active", "away"]


@dataclass
class PresenceCoalescer:
    published: dict[str, Presence] = field(default_factory=dict)
    _changed: dict[str, Presence] = field(default_factory=dict)

    def record(self, user: str, presence: Presence) -> None:
        self._changed[user] = presence

    def drain(self) -> dict[str, Presence]:
        """The users whose presence differs from what was last published, and their presence."""
        changes = {u: p for u, p in self._changed.items() if self.published.get(u, "away") != p}
        self._changed.clear()
        for user, presence in changes.items():
            if presence == "away":
                self.published.pop(user, None)  # away is the default: nothing to remember
            else:
                self.published[user] = presence
        return changes
