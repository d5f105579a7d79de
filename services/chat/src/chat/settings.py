from pydantic import Field
from pydantic_settings import SettingsConfigDict

from stackkit.settings import KafkaSettings, PostgresSettings, RedisSettings, ServiceSettings


class ChatSettings(ServiceSettings, KafkaSettings, PostgresSettings, RedisSettings):
    """Shared by the chat Web API, the gateways and the fanout worker."""

    model_config = SettingsConfigDict(env_prefix="CHAT_", extra="ignore", frozen=True)

    gateway_id: str = Field(
        default="chat-gateway", pattern=r"^[a-z0-9-]{1,40}$", description="this gateway's name"
    )
    api_url: str = Field(
        default="http://127.0.0.1:8003", description="the Web API, for messages sent over sockets"
    )
    heartbeat_s: float = Field(default=30.0, gt=0, description="how often clients heartbeat")
    presence_flush_s: float = Field(
        default=1.0, gt=0, description="presence changes are coalesced over this interval"
    )
    presence_max_members: int = Field(
        default=1000, ge=0, description="channels bigger than this get presence by subscription"
    )
    post_rate_per_s: int = Field(default=50, gt=0, description="chat.postMessage per user per s")
    max_frame_bytes: int = Field(default=65_536, ge=1024, description="largest client frame")
    socket_rate_per_s: float = Field(
        default=20.0, gt=0, description="client frames per second a socket may send (burst x2)"
    )
