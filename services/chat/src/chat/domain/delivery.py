"""What one connection is sent, per channel: every message once, in ``seq`` order, no gap.

A pure state machine that the gateway drives; it does no I/O. Events go in (the connection is
ready, a live message from the fanout, the answer to a fetch from storage, a join or a leave)
and actions come out (:class:`Write` these frames, :class:`Fetch` what follows this ``seq``).
What was *written* is the guarantee, so the machine hands out the frames themselves, never
bare numbers: a message held back while a replay runs is written from what was held.

Per channel it keeps ``delivered`` (the highest ``seq`` written or that the client said it
has) and ``latest`` (the highest ``seq`` known to exist: the channel's last message when the
connection was set up, or any live message since). While ``delivered < latest`` something is
missing and one fetch at a time reads it from storage; live messages arriving meanwhile are
held (up to :data:`HOLD_LIMIT`; the rest are simply fetched later, being stored). A message
at or below ``delivered`` is a duplicate and is dropped.

Before the connection is ready (its memberships not yet read) everything is queued and applied
in order on :meth:`ConnectionDelivery.ready`, so nothing routed to it early is lost.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
HOLD_LIMIT = 1000
"""Live frames held per channel while a fetch runs; beyond it they are fetched again."""


@dataclass(frozen=True)
class Write(Generic[T]):
    """Write these frames to the socket, in this order."""

    channel: str
    frames: tuple[T, ...]


@dataclass(frozen=True)
class Fetch:
    """Read the channel's stored messages after ``after`` and report them to :meth:`fetched`."""

    channel: str
    after: int


Action = Write[T] | Fetch
"""What the gateway does next."""


@dataclass
class ChannelDelivery(Generic[T]):
    delivered: int
    latest: int
    hold_limit: int = HOLD_LIMIT
    fetching: bool = False
    held: dict[int, T] = field(default_factory=dict)

    def _flush(self, channel: str) -> list[Action[T]]:
        """Write whatever continues ``delivered``; fetch if something is still missing."""
        frames = []
        while (frame := self.held.pop(self.delivered + 1, None)) is not None:
            frames.append(frame)
            self.delivered += 1
        for seq in [s for s in self.held if s <= self.delivered]:
            del self.held[seq]
        actions: list[Action[T]] = [Write(channel, tuple(frames))] if frames else []
        if self.delivered < self.latest and not self.fetching:
            self.fetching = True
            actions.append(Fetch(channel, self.delivered))
        return actions

    def live(self, channel: str, seq: int, frame: T) -> list[Action[T]]:
        if seq <= self.delivered:
            return []
        self.latest = max(self.latest, seq)
        if not self.fetching and seq == self.delivered + 1:
            self.delivered = seq
            return [Write(channel, (frame,))]
        if len(self.held) < self.hold_limit:
            self.held[seq] = frame
        return [] if self.fetching else self._flush(channel)

    def fetched(self, channel: str, found: Sequence[tuple[int, T]]) -> list[Action[T]]:
        self.fetching = False
        for seq, frame in found:
            if seq > self.delivered:
                self.latest = max(self.latest, seq)
                self.held.setdefault(seq, frame)
        return self._flush(channel)


@dataclass
class ConnectionDelivery(Generic[T]):
    """Every channel of one connection. The gateway calls one method per event and carries out
    the actions returned, in order."""

    hold_limit: int = HOLD_LIMIT
    channels: dict[str, ChannelDelivery[T]] = field(default_factory=dict)
    _early: list[tuple[str, str, int, T | None]] | None = field(default_factory=list)
    """Events before :meth:`ready`: (kind, channel, seq or last_seq, frame)."""

    @property
    def is_ready(self) -> bool:
        return self._early is None

    def ready(self, positions: Mapping[str, tuple[int, int]]) -> list[Action[T]]:
        """The connection is set up: ``{channel: (what the client has, the last seq)}``. Replays
        what is missing and then applies what arrived meanwhile."""
        early, self._early = self._early or [], None
        actions: list[Action[T]] = []
        for channel, (have, latest) in positions.items():
            state = ChannelDelivery[T](min(have, latest), latest, self.hold_limit)
            self.channels[channel] = state
            actions += state._flush(channel)
        for kind, channel, seq, frame in early:
            if kind == "live" and frame is not None:
                actions += self.live(channel, seq, frame)
            elif kind == "joined":
                self.joined(channel, seq)
            else:
                self.left(channel)
        return actions

    def position(self, channel: str) -> int | None:
        state = self.channels.get(channel)
        return None if state is None else state.delivered

    def live(self, channel: str, seq: int, frame: T) -> list[Action[T]]:
        """A message from the fanout (in ``seq`` order per channel, possibly with holes)."""
        if self._early is not None:
            self._early.append(("live", channel, seq, frame))
            return []
        state = self.channels.get(channel)
        return [] if state is None else state.live(channel, seq, frame)

    def fetched(self, channel: str, found: Sequence[tuple[int, T]]) -> list[Action[T]]:
        """The answer to a :class:`Fetch`: stored ``(seq, frame)``s after its ``after``."""
        state = self.channels.get(channel)
        return [] if state is None else state.fetched(channel, found)

    def caught_up(self, last_seqs: Mapping[str, int]) -> list[Action[T]]:
        """The store's last ``seq`` per channel, read again once the fanout surely knows this
        connection's route: a message committed after :meth:`ready` read its positions but
        planned by the fanout before the route reached it would otherwise wait for the next
        message to reveal the gap. Fetches whatever is newer than what this connection knows."""
        actions: list[Action[T]] = []
        for channel, last_seq in last_seqs.items():
            state = self.channels.get(channel)
            if state is not None and last_seq > state.latest:
                state.latest = last_seq
                actions += state._flush(channel)
        return actions

    def joined(self, channel: str, last_seq: int) -> None:
        """The user joined ``channel`` when its last message was ``last_seq``."""
        if self._early is not None:
            self._early.append(("joined", channel, last_seq, None))
        elif channel not in self.channels:
            self.channels[channel] = ChannelDelivery(last_seq, last_seq, self.hold_limit)

    def left(self, channel: str) -> None:
        if self._early is not None:
            self._early.append(("left", channel, 0, None))
        else:
            self.channels.pop(channel, None)
