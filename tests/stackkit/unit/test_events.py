import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from stackkit.events import Event
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
