from pydantic_settings import SettingsConfigDict

from stackkit.settings import KafkaSettings, PostgresSettings, ServiceSettings


class PaymentsSettings(ServiceSettings, KafkaSettings, PostgresSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENTS_", extra="ignore", frozen=True)
