from pydantic import Field
from pydantic_settings import SettingsConfigDict

from stackkit.settings import KafkaSettings, PostgresSettings, ServiceSettings


class PaymentsSettings(ServiceSettings, KafkaSettings, PostgresSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENTS_", extra="ignore", frozen=True)

    acquirers: str = Field(
        default="acquirer-a=http://127.0.0.1:8101,acquirer-b=http://127.0.0.1:8102",
        description="name=url pairs of the acquirer processes, comma separated",
    )
    acquirer_timeout_s: float = Field(default=2.0, gt=0)
    idempotency_lock_timeout_s: float = Field(
        default=10.0, gt=0, description="after this, a locked request counts as abandoned"
    )
    worker_interval_s: float = Field(default=1.0, gt=0, description="reaper and relay period")
