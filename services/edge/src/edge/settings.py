import secrets
from typing import Any

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from stackkit.settings import KafkaSettings, PostgresSettings, ServiceSettings

MIB = 1024 * 1024
SECRETS = {"tier_secret": "EDGE_TIER_SECRET", "admin_token": "EDGE_ADMIN_TOKEN"}
# Values that were ever advertised (code, README, compose): known to anyone, so never a secret.
KNOWN_DEFAULTS = frozenset({"dev-tier-secret", "dev-edge-admin-token", "changeme", "secret"})
MIN_SECRET_CHARS = 16


class EdgeSettings(ServiceSettings, PostgresSettings, KafkaSettings):
    """One PoP. Every PoP runs the same code; only its name, region and tier differ."""

    # Errors never echo the input: it holds the secrets.
    model_config = SettingsConfigDict(
        env_prefix="EDGE_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    pop_name: str = Field(default="pop-1", min_length=1, pattern=r"^[a-z0-9-]+$")
    region: str = "eu-west"
    upper_tier_url: str = Field(
        default="",
        description="The upper-tier PoP this PoP asks on a miss; empty: this PoP is an upper "
        "tier and goes to the origins itself.",
    )
    tier_secret: str = Field(
        default="",
        description="Signs requests between tiers (HMAC; a signed request skips WAF and limits)."
        " Every PoP of a stack needs the same one. Required in production; unset in development:"
        " random per process (the tiers then treat each other as clients).",
    )
    admin_token: str = Field(
        default="",
        description="Bearer token for writes to the config plane. Required in production;"
        " unset in development: random per process (the config plane is then closed).",
    )
    replica_dir: str = Field(default="", description="LMDB replica; empty: a per-PoP temp dir.")
    config_poll_s: float = Field(
        default=5.0, gt=0, description="Anti-entropy: catch up from the log this often."
    )
    # Each route lists every instance of its service, comma-separated: the PoP balances over
    # the healthy ones and fails over to the next (devstack.topology names the instances).
    catalog_urls: str = "http://127.0.0.1:8001"
    dispatch_urls: str = "http://127.0.0.1:8002,http://127.0.0.1:8012"
    chat_urls: str = "http://127.0.0.1:8003"
    payments_urls: str = "http://127.0.0.1:8006"
    chat_gateway_urls: str = Field(
        default="http://127.0.0.1:8004,http://127.0.0.1:8014",
        description="Comma-separated: WebSocket origins, served at /chat-gateway.",
    )
    origin_timeout_s: float = Field(default=30.0, gt=0)
    origin_probe_interval_s: float = Field(
        default=1.0, gt=0, description="Active health probes of every origin (GET /readyz)."
    )
    max_connections: int = Field(default=500, gt=0, description="Pooled upstream connections.")
    max_relayed_sockets: int = Field(
        default=4096,
        gt=0,
        description="WebSocket relays held at once, apart from the request pool; over it an "
        "upgrade is a 503. Each relay holds two sockets: mind the file descriptor limit.",
    )
    cache_max_bytes: int = Field(default=256 * MIB, gt=0)
    cache_max_object_bytes: int = Field(default=8 * MIB, gt=0)
    max_body_bytes: int = Field(default=10 * MIB, gt=0, description="Largest request body.")
    max_response_bytes: int = Field(default=64 * MIB, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _generate_development_secrets(cls, data: Any) -> Any:
        """Development without a secret gets a random one, so no value works by default."""
        if not isinstance(data, dict) or data.get("environment") == "production":
            return data
        return data | {
            name: secrets.token_urlsafe(24) for name in SECRETS if not str(data.get(name) or "")
        }

    @model_validator(mode="after")
    def _refuse_weak_secrets_in_production(self) -> "EdgeSettings":
        if self.environment != "production":
            return self
        for name, variable in SECRETS.items():
            value: str = getattr(self, name)
            if not value or value in KNOWN_DEFAULTS or len(value) < MIN_SECRET_CHARS:
                problem = "empty" if not value else "a published default or too short"
                raise ValueError(
                    f"{variable} is {problem}: production needs a random secret of at least"
                    f" {MIN_SECRET_CHARS} characters (e.g. `openssl rand -hex 32`)"
                )
        return self


class AnycastSettings(ServiceSettings):
    """The anycast entry in front of the PoPs (``python -m edge.anycast``)."""

    model_config = SettingsConfigDict(env_prefix="ANYCAST_", extra="ignore", frozen=True)

    pops: str = Field(
        default="pop-1@eu-west=127.0.0.1:8081,pop-2@us-east=127.0.0.1:8082,"
        "pop-3@ap-southeast=127.0.0.1:8083",
        description="name@region=host:port, comma-separated",
    )
    client_networks: str = Field(
        default="", description="cidr=region, comma-separated: where clients on those addresses are"
    )
    default_region: str = "eu-west"
    probe_interval_s: float = Field(default=0.5, gt=0)
