from pydantic_settings import SettingsConfigDict

from stackkit.settings import KafkaSettings, PostgresSettings, RedisSettings, ServiceSettings


class ChatSettings(ServiceSettings, KafkaSettings, PostgresSettings, RedisSettings):
    """Shared by the chat Web API, the gateways and the fanout worker."""

    model_config = SettingsConfigDict(env_prefix="CHAT_", extra="ignore", frozen=True)
