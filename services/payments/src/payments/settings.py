from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from stackkit.settings import KafkaSettings, PostgresSettings, ServiceSettings


class PaymentsSettings(ServiceSettings, KafkaSettings, PostgresSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENTS_", extra="ignore", frozen=True)

    DEVELOPMENT_SWITCHES: ClassVar[dict[str, str]] = {
        **ServiceSettings.DEVELOPMENT_SWITCHES,
        # Allowed there, the worker would be an SSRF proxy into the production network.
        "webhook_allow_private_targets": "private webhook targets cannot be allowed in production",
    }

    acquirers: str = Field(
        default="acquirer-a=http://127.0.0.1:8101,acquirer-b=http://127.0.0.1:8102",
        description="name=url pairs of the acquirer processes, comma separated",
    )
    acquirer_timeout_s: float = Field(default=2.0, gt=0)
    idempotency_lock_timeout_s: float = Field(
        default=10.0, gt=0, description="after this, a locked request counts as abandoned"
    )
    worker_interval_s: float = Field(default=1.0, gt=0, description="reaper and relay period")
    webhook_timeout_s: float = Field(
        default=10.0, gt=0, description="the whole of one webhook request, connect to status"
    )
    webhook_max_backoff_s: float = Field(
        default=3600.0, gt=0, description="the longest wait between two tries of one delivery"
    )
    webhook_concurrency: int = Field(
        default=64, ge=1, description="endpoints the worker delivers to at the same time"
    )
    webhook_allow_private_targets: bool | None = Field(
        default=None,
        description=(
            "Let webhook URLs reach loopback, private and link-local addresses. Unset: allowed"
            " in development, refused in production; production refuses to allow them."
        ),
    )

    @property
    def webhook_private_targets_allowed(self) -> bool:
        return self.development_switch("webhook_allow_private_targets")


class AcquirerSettings(ServiceSettings):
    """A simulated acquirer (``payments.acquirer``); its profile can change at run time."""

    model_config = SettingsConfigDict(env_prefix="ACQUIRER_", extra="ignore", frozen=True)

    name: str = "acquirer-a"
    latency_ms: float = Field(default=5.0, ge=0)
    soft_decline_rate: float = Field(default=0.0, ge=0, le=1)
    timeout_rate: float = Field(default=0.0, ge=0, le=1)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    hang_s: float = Field(default=30.0, ge=0, description="how long a timed-out call hangs")
