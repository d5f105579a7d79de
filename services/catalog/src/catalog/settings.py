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
