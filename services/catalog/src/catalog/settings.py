from pydantic import Field
from pydantic_settings import SettingsConfigDict

from stackkit.settings import KafkaSettings, RedisSettings, ServiceSettings


class CatalogSettings(ServiceSettings, KafkaSettings, RedisSettings):
    """``redis_url`` is the local cache zone, ``redis_zone_b_url`` the other one."""

    model_config = SettingsConfigDict(env_prefix="CATALOG_", extra="ignore", frozen=True)

    cassandra_contact_points: str = Field(default="127.0.0.1:9042", description="host:port,...")
    cassandra_keyspace: str = Field(default="catalog", pattern=r"^[a-z][a-z0-9_]{0,47}$")
    redis_zone_b_url: str = "redis://127.0.0.1:6380/0"
    cache_ttl_s: int = Field(default=3600, gt=0)
    seed_titles: int = Field(
        default=5000, ge=0, le=1_000_000, description="catalogue size seeded at start; 0 skips"
    )
    fill_interval_s: float = Field(
        default=60.0, gt=0, description="how often the fill planner runs"
    )
    fill_pseudo_plays: float = Field(
        default=1000.0, gt=0, description="plays counted before live popularity outweighs the seed"
    )
