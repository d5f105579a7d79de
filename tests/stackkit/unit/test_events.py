from typing import Literal

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from stackkit.events import Event, EventData, EventTypes, UnknownEventType
from stackkit.settings import KafkaSettings, ServiceSettings, settings_env_names


def test_an_event_round_trips_through_its_encoding() -> None:
    event = Event(type="chat.message.posted", source="chat", subject="C1", data={"text": "hi"})
    decoded = Event.decode(event.encode())
    assert decoded == event
    assert decoded.id.startswith("evt_")
    assert decoded.specversion == "1.0"


def test_each_event_gets_its_own_id() -> None:
    first = Event(type="t", source="s", subject="x")
    second = Event(type="t", source="s", subject="x")
    assert first.id != second.id


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"{}",
        b'{"type": "t", "source": "s"}',
        b'{"type": "", "source": "s", "subject": "x"}',
    ],
)
def test_anything_but_an_envelope_is_rejected(raw: bytes) -> None:
    with pytest.raises(ValidationError):
        Event.decode(raw)


def test_settings_env_names_follow_the_prefix() -> None:
    class WidgetSettings(ServiceSettings, KafkaSettings):
        model_config = SettingsConfigDict(env_prefix="WIDGET_")

    assert settings_env_names(WidgetSettings) == {
        "WIDGET_LOG_LEVEL",
        "WIDGET_ENVIRONMENT",
        "WIDGET_STARTUP_TIMEOUT_S",
        "WIDGET_DEV_ENDPOINTS",
        "WIDGET_KAFKA_BOOTSTRAP_SERVERS",
    }


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    class WidgetSettings(ServiceSettings, KafkaSettings):
        model_config = SettingsConfigDict(env_prefix="WIDGET_")

    monkeypatch.setenv("WIDGET_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("WIDGET_LOG_LEVEL", "DEBUG")
    settings = WidgetSettings()
    assert settings.kafka_bootstrap_servers == "kafka:9092"
    assert settings.log_level == "DEBUG"


class _Posted(EventData):
    TYPES = ("widget.posted",)
    widget: str
    count: int

    def subject(self) -> str:
        return self.widget


class _Moved(EventData):
    TYPES = ("widget.moved.left", "widget.moved.right")
    widget: str
    direction: Literal["left", "right"]

    def event_type(self) -> str:
        return f"widget.moved.{self.direction}"

    def subject(self) -> str:
        return self.widget


WIDGET_EVENTS = EventTypes("widgets", _Posted, _Moved)


def test_a_typed_event_travels_in_the_envelope_and_comes_back_as_its_model() -> None:
    event = WIDGET_EVENTS.event(_Moved(widget="w1", direction="right"))
    assert (event.type, event.source, event.subject) == ("widget.moved.right", "widgets", "w1")
    assert event.data == {"widget": "w1", "direction": "right"}
    assert WIDGET_EVENTS.parse(Event.decode(event.encode())) == _Moved(
        widget="w1", direction="right"
    )
    assert WIDGET_EVENTS.event(_Posted(widget="w", count=2), event_id="evt_x").id == "evt_x"
    assert WIDGET_EVENTS.names == {"widget.posted", "widget.moved.left", "widget.moved.right"}


def test_an_undeclared_or_malformed_event_is_a_value_error() -> None:
    with pytest.raises(UnknownEventType):
        WIDGET_EVENTS.parse(Event(type="widget.eaten", source="widgets", subject="w"))
    with pytest.raises(ValidationError):
        WIDGET_EVENTS.parse(Event(type="widget.posted", source="widgets", subject="w",
                                  data={"widget": "w", "count": "many"}))  # fmt: skip
    with pytest.raises(UnknownEventType):
        EventTypes("other", _Moved).event(_Posted(widget="w", count=1))


def test_one_type_cannot_be_declared_twice() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        EventTypes("widgets", _Posted, _Posted)
