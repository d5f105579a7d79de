from pydantic import Field
from pydantic_settings import SettingsConfigDict

from stackkit.settings import KafkaSettings, PostgresSettings, ServiceSettings

MIB = 1024 * 1024


class EdgeSettings(ServiceSettings, PostgresSettings, KafkaSettings):
    """One PoP. Every PoP runs the same code; only its name, region and tier differ."""

    model_config = SettingsConfigDict(env_prefix="EDGE_", extra="ignore", frozen=True)

    pop_name: str = Field(default="pop-1", min_length=1, pattern=r"^[a-z0-9-]+$")
    region: str = "eu-west"
    upper_tier_url: str = Field(
        default="",
        description="The upper-tier PoP this PoP asks on a miss; empty: this PoP is an upper "
        "tier and goes to the origins itself.",
    )
    tier_secret: str = Field(
        default="dev-tier-secret",
        min_length=8,
        description="Marks requests between tiers (skip WAF and limits).",
    )
    admin_token: str = Field(
        default="dev-edge-admin-token",
        min_length=8,
        description="Bearer token for writes to the config plane.",
    )
    replica_dir: str = Field(default="", description="LMDB replica; empty: a per-PoP temp dir.")
    config_poll_s: float = Field(
        default=5.0, gt=0, description="Anti-entropy: catch up from the log this often."
    )
    catalog_url: str = "http://127.0.0.1:8001"
    dispatch_url: str = "http://127.0.0.1:8002"
    chat_url: str = "http://127.0.0.1:8003"
    payments_url: str = "http://127.0.0.1:8006"
    chat_gateway_urls: str = Field(
        default="http://127.0.0.1:8004,http://127.0.0.1:8014",
        description="Comma-separated: WebSocket origins, served at /chat-gateway.",
    )
    origin_timeout_s: float = Field(default=30.0, gt=0)
    max_connections: int = Field(default=500, gt=0, description="Pooled upstream connections.")
    cache_max_bytes: int = Field(default=256 * MIB, gt=0)
    cache_max_object_bytes: int = Field(default=8 * MIB, gt=0)
    max_body_bytes: int = Field(default=10 * MIB, gt=0, description="Largest request body.")
    max_response_bytes: int = Field(default=64 * MIB, gt=0)
