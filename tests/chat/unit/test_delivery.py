"""The per-connection delivery machine under every interleaving hypothesis can find.

The model is the world around one gateway connection: messages are committed to storage one
after another; the fanout delivers them live in ``seq`` order but may miss some (a route not
yet known) or repeat some (a consumer re-reading after a restart); live messages may arrive
before the connection has read its memberships; each fetch reads storage at some moment and
its answer arrives later, with any live deliveries in between. What is WRITTEN to the socket
must always be ``have+1, have+2, ...``: no gap, no duplicate, in order; and once a later
message arrives, everything up to it.
"""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from chat.domain.delivery import ConnectionDelivery, Fetch, Write

CHANNEL = "C1"


def frame(seq: int) -> str:
    return f"m{seq}"


class OneConnection(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.committed = 0
        self.next_live = 1
        self.written: list[str] = []
        self.requested: list[Fetch] = []
        self.answers: list[list[tuple[int, str]]] = []
        self.page = 3
        self.have = 0
        self.delivery: ConnectionDelivery[str] = ConnectionDelivery()

    @initialize(
        before=st.integers(0, 12), have=st.integers(0, 15), page=st.integers(1, 5),
        hold_limit=st.integers(1, 6),
    )  # fmt: skip
    def connect(self, before: int, have: int, page: int, hold_limit: int) -> None:
        """The channel has ``before`` messages; the client says it has ``have`` (maybe more
        than exist: a client's claim is capped)."""
        self.committed = before
        self.next_live = before + 1
        self.have = min(have, before)
        self.claimed = have
        self.page = page
        self.registered_at = before
        self.delivery = ConnectionDelivery(hold_limit=hold_limit)

    def carry_out(self, actions: list[Write[str] | Fetch]) -> None:
        for action in actions:
            if isinstance(action, Write):
                self.written += action.frames
            else:
                assert action.channel == CHANNEL
                assert not self.requested and not self.answers, "one fetch at a time"
                self.requested.append(action)

    @rule()
    def commit(self) -> None:
        self.committed += 1

    @precondition(lambda self: self.next_live <= self.committed)
    @rule(routed=st.booleans())
    def live(self, routed: bool) -> None:
        seq, self.next_live = self.next_live, self.next_live + 1
        if routed:
            self.carry_out(self.delivery.live(CHANNEL, seq, frame(seq)))

    @precondition(lambda self: self.next_live > 1)
    @rule(data=st.data())
    def live_again(self, data: st.DataObject) -> None:
        seq = data.draw(st.integers(1, self.next_live - 1))
        self.carry_out(self.delivery.live(CHANNEL, seq, frame(seq)))

    @precondition(lambda self: not self.delivery.is_ready)
    @rule(data=st.data())
    def ready(self, data: st.DataObject) -> None:
        """Memberships were read at some moment after the connection registered."""
        latest = data.draw(st.integers(self.registered_at, self.committed))
        self.have = min(self.claimed, latest)
        self.carry_out(self.delivery.ready({CHANNEL: (self.claimed, latest)}))

    @precondition(lambda self: bool(self.requested))
    @rule()
    def query(self) -> None:
        """The fetch reads storage now; its answer comes back later."""
        after = self.requested.pop().after
        last = min(self.committed, after + self.page)
        self.answers.append([(seq, frame(seq)) for seq in range(after + 1, last + 1)])

    @precondition(lambda self: bool(self.answers))
    @rule()
    def answer(self) -> None:
        self.carry_out(self.delivery.fetched(CHANNEL, self.answers.pop()))

    @invariant()
    def written_is_contiguous_without_duplicates(self) -> None:
        expected = [frame(seq) for seq in range(self.have + 1, self.have + 1 + len(self.written))]
        assert self.written == expected

    @rule()
    def settle(self) -> None:
        """A later message arrives and every fetch completes: the client then has it all."""
        if not self.delivery.is_ready:
            self.have = min(self.claimed, self.committed)
            self.carry_out(self.delivery.ready({CHANNEL: (self.claimed, self.committed)}))
        self.committed += 1
        while self.next_live <= self.committed:
            seq, self.next_live = self.next_live, self.next_live + 1
            self.carry_out(self.delivery.live(CHANNEL, seq, frame(seq)))
            while self.requested or self.answers:
                if self.requested:
                    self.query()
                else:
                    self.answer()
        assert self.written == [frame(s) for s in range(self.have + 1, self.committed + 1)]

    def teardown(self) -> None:
        self.settle()


OneConnection.TestCase.settings = settings(max_examples=200, stateful_step_count=60,
                                           deadline=None)  # fmt: skip
test_every_interleaving_writes_each_message_once_in_order = OneConnection.TestCase


def test_a_message_held_during_the_replay_is_written_after_it() -> None:
    """The defect the e2e test caught: seq 4 arrives live while 2..3 replay."""
    delivery: ConnectionDelivery[str] = ConnectionDelivery()
    assert delivery.ready({CHANNEL: (1, 3)}) == [Fetch(CHANNEL, 1)]
    assert delivery.live(CHANNEL, 4, "m4") == []  # held
    assert delivery.fetched(CHANNEL, [(2, "m2"), (3, "m3")]) == [Write(CHANNEL, ("m2", "m3", "m4"))]
    assert delivery.live(CHANNEL, 5, "m5") == [Write(CHANNEL, ("m5",))]


def test_events_before_ready_are_applied_after_it_in_order() -> None:
    delivery: ConnectionDelivery[str] = ConnectionDelivery()
    assert delivery.live(CHANNEL, 3, "m3") == []
    delivery.joined("C2", 7)
    assert delivery.live("C2", 8, "c8") == []
    delivery.left("C3")
    actions = delivery.ready({CHANNEL: (2, 2), "C3": (0, 0)})
    assert actions == [Write(CHANNEL, ("m3",)), Write("C2", ("c8",))]
    assert delivery.position("C3") is None and delivery.position("C2") == 8


def test_a_gap_in_live_delivery_is_fetched_and_a_leave_stops_delivery() -> None:
    delivery: ConnectionDelivery[str] = ConnectionDelivery()
    assert delivery.ready({CHANNEL: (5, 5)}) == []
    assert delivery.live(CHANNEL, 7, "m7") == [Fetch(CHANNEL, 5)]
    assert delivery.live(CHANNEL, 5, "m5") == [], "a duplicate"
    assert delivery.fetched(CHANNEL, [(6, "m6"), (7, "m7")]) == [Write(CHANNEL, ("m6", "m7"))]
    delivery.left(CHANNEL)
    assert delivery.live(CHANNEL, 8, "m8") == []


def test_caught_up_fetches_what_was_committed_after_ready_and_nothing_twice() -> None:
    delivery = ConnectionDelivery[str]()
    assert delivery.ready({"C1": (3, 3)}) == []
    assert delivery.caught_up({"C1": 3, "C2": 9}) == [], "nothing newer; not a channel of ours"
    assert delivery.caught_up({"C1": 5}) == [Fetch("C1", 3)]
    assert delivery.caught_up({"C1": 6}) == [], "one fetch at a time"
    assert delivery.fetched("C1", [(4, "m4"), (5, "m5"), (6, "m6")]) == [
        Write("C1", ("m4", "m5", "m6"))
    ]
    assert delivery.live("C1", 6, "m6") == []
