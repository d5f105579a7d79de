from pydantic_settings import SettingsConfigDict

from stackkit.settings import KafkaSettings, RedisSettings, ServiceSettings


class CatalogSettings(ServiceSettings, KafkaSettings, RedisSettings):
    model_config = SettingsConfigDict(env_prefix="CATALOG_", extra="ignore", frozen=True)
