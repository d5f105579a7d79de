from pydantic import Field
from pydantic_settings import SettingsConfigDict

from stackkit.settings import ServiceSettings


class EdgeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EDGE_", extra="ignore", frozen=True)

    pop_name: str = Field(default="pop-1", min_length=1)
    region: str = "local"
    catalog_url: str = "http://127.0.0.1:8001"
    dispatch_url: str = "http://127.0.0.1:8002"
    chat_url: str = "http://127.0.0.1:8003"
    payments_url: str = "http://127.0.0.1:8006"
    origin_timeout_s: float = Field(default=30.0, gt=0)

    def origins(self) -> dict[str, str]:
        """Path prefix -> origin base URL."""
        return {
            "catalog": self.catalog_url,
            "dispatch": self.dispatch_url,
            "chat": self.chat_url,
            "payments": self.payments_url,
        }
