"""What chat publishes on the backbone: its event kinds and their topic.

Everything travels on ``chat.messages``, keyed by channel, so the fanout sees a channel's
messages and membership changes in the order they were committed: nobody is sent a message
posted after they left, and a joiner gets the messages after the ``last_seq`` of its join.

A posted message's data is also what the gateways write to sockets (a Slack RTM ``message``
event), so its shape is the clients' contract as much as the fanout's.
"""

from typing import Any, Literal

from pydantic import SerializerFunctionWrapHandler, model_serializer

from stackkit.events import EventData, EventTypes
from stackkit.kafka import TopicSpec

MESSAGES = TopicSpec("chat.messages")
TOPICS = [MESSAGES]


class MessagePosted(EventData):
    """A message stored in a channel, with the ``seq`` that orders it there."""

    TYPES = ("chat.message",)

    type: Literal["message"] = "message"
    channel: str
    user: str
    text: str
    ts: str
    """Slack's message id, ``"1700000000.000123"``."""
    seq: int
    client_msg_id: str | None = None
    """Absent from the wire when the poster gave none, as Slack leaves it out."""

    @model_serializer(mode="wrap")
    def _without_absent_client_msg_id(
        self, serialize: SerializerFunctionWrapHandler
    ) -> dict[str, Any]:
        data: dict[str, Any] = serialize(self)
        if data.get("client_msg_id") is None:
            data.pop("client_msg_id", None)
        return data

    def subject(self) -> str:
        return self.channel


class MembershipChanged(EventData):
    """A user joined or left ``channel`` when its last message was ``last_seq``."""

    channel: str
    user: str
    last_seq: int

    def subject(self) -> str:
        return self.channel


class MemberJoined(MembershipChanged):
    TYPES = ("chat.member_joined",)


class MemberLeft(MembershipChanged):
    TYPES = ("chat.member_left",)


EVENTS = EventTypes("chat", MessagePosted, MemberJoined, MemberLeft)
