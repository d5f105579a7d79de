from pydantic_settings import SettingsConfigDict

from stackkit.settings import KafkaSettings, PostgresSettings, RedisSettings, ServiceSettings


class DispatchSettings(ServiceSettings, KafkaSettings, PostgresSettings, RedisSettings):
    model_config = SettingsConfigDict(env_prefix="DISPATCH_", extra="ignore", frozen=True)
