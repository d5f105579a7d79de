from pydantic import Field
from pydantic_settings import SettingsConfigDict

from stackkit.settings import KafkaSettings, PostgresSettings, RedisSettings, ServiceSettings


class DispatchSettings(ServiceSettings, KafkaSettings, PostgresSettings, RedisSettings):
    model_config = SettingsConfigDict(env_prefix="DISPATCH_", extra="ignore", frozen=True)

    ping_interval_s: float = Field(default=4.0, gt=0, description="how often drivers report")
    stale_after_s: float = Field(
        default=12.0, gt=0, description="a driver silent this long drops out (3 pings)"
    )
    offer_timeout_s: float = Field(default=15.0, gt=0, description="a driver's time to accept")
    worker_id: str = Field(default="dispatch", min_length=1, description="this worker's name")
    advertised_url: str = Field(
        default="http://127.0.0.1:8002", description="where the other workers reach this one"
    )
    heartbeat_s: float = Field(default=1.0, gt=0)
    member_ttl_s: float = Field(default=3.0, gt=0, description="silent this long: off the ring")
    surge_recompute_s: float = Field(
        default=10.0, ge=0, description="how long an area's surge level is reused"
    )
