"""What a gateway does with each message for one connection and one channel, so the client
sees the channel's messages in ``seq`` order, with no gaps and no duplicates.

Live messages arrive from the fanout; replayed ones from storage. A message at or below what
was delivered is a duplicate (dropped); the next one is sent; one further ahead means some were
missed (a fanout lag, a gateway that joined late): the connection first fetches the gap from
storage. While a fetch runs, live messages wait in ``pending`` and are offered again after it.
"""

from dataclasses import dataclass, field
from enum import Enum


class Decision(Enum):
    SEND = "send"
    DROP = "drop"
    FETCH_GAP = "fetch_gap"
    WAIT = "wait"


@dataclass
class ChannelCursor:
    delivered: int
    """The highest ``seq`` the client has (or said it has)."""
    pending: list[int] | None = field(default=None)
    """``seq``s held back while the gap before them is fetched; None when not fetching."""

    def offer(self, seq: int) -> Decision:
        if seq <= self.delivered:
            return Decision.DROP
        if self.pending is not None:
            self.pending.append(seq)
            return Decision.WAIT
        if seq == self.delivered + 1:
            self.delivered = seq
            return Decision.SEND
        self.pending = [seq]
        return Decision.FETCH_GAP

    def fetched(self, seqs: list[int]) -> list[int]:
        """After a fetch: which fetched ``seq``s to send (in order, contiguous from the cursor);
        the fetch is over and held-back live messages should be offered again."""
        to_send = []
        for seq in sorted(set(seqs)):
            if seq == self.delivered + 1:
                self.delivered = seq
                to_send.append(seq)
        return to_send

    def release(self) -> list[int]:
        """End the fetch: the held-back ``seq``s to offer again."""
        held, self.pending = self.pending or [], None
        return held
