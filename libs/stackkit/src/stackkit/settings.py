"""Settings base: environment variables only, one prefix per service.

Compose and the native runner set the same variable names, so a service never knows which
of the two started it.
"""

from typing import ClassVar, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Fields every process has. Subclasses set ``model_config`` with their own ``env_prefix``."""

    model_config = SettingsConfigDict(env_prefix="STACK_", extra="ignore", frozen=True)

    DEVELOPMENT_SWITCHES: ClassVar[dict[str, str]] = {
        "dev_endpoints": "development endpoints cannot be turned on in production",
    }
    """Development-only switches (``bool | None`` fields) and what production says when one
    is turned on; a subclass adds its own to its base's. See :meth:`development_switch`."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    environment: Literal["development", "production"] = "development"
    startup_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="How long start-up waits for a dependency before giving up.",
    )
    dev_endpoints: bool | None = Field(
        default=None,
        description=(
            "Serve the development endpoints (/dev/*, test data, shortcuts). Unset: on in"
            " development, off in production; production refuses to turn them on."
        ),
    )

    def development_switch(self, name: str) -> bool:
        """Whether the development-only switch ``name`` is on: unset, on in development and off
        in production; set, as set, except that production refuses to turn it on."""
        if self.environment == "production":
            return False
        return getattr(self, name) is not False

    @property
    def dev_endpoints_enabled(self) -> bool:
        """Whether this process serves its development-only endpoints (one switch per service)."""
        return self.development_switch("dev_endpoints")

    @model_validator(mode="after")
    def _refuse_development_switches_in_production(self) -> "ServiceSettings":
        if self.environment == "production":
            for name, refusal in self.DEVELOPMENT_SWITCHES.items():
                if getattr(self, name):
                    raise ValueError(refusal)
        return self


class KafkaSettings(BaseSettings):
    """Mixin for processes that publish or consume events."""

    kafka_bootstrap_servers: str = "127.0.0.1:9092"


class PostgresSettings(BaseSettings):
    """Mixin for processes that own a Postgres database."""

    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"


class RedisSettings(BaseSettings):
    """Mixin for processes that use Redis."""

    redis_url: str = "redis://127.0.0.1:6379/0"


def settings_env_names(settings_type: type[BaseSettings]) -> set[str]:
    """The environment variable names a settings class reads (used by the contract tests)."""
    prefix = str(settings_type.model_config.get("env_prefix", ""))
    return {f"{prefix}{name}".upper() for name in settings_type.model_fields}
