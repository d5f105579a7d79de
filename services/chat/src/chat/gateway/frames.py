"""What clients send over their sockets: heartbeats, messages and presence subscriptions,
each frame first admitted by the client's token bucket."""

import time

import orjson

from chat.domain.token_bucket import Admission
from chat.gateway.connection import Client
from chat.gateway.metrics import GatewayMetrics
from chat.gateway.posting import Posting
from chat.gateway.presence import GatewayPresence

MAX_PRESENCE_SUBS = 500


class ClientFrames:
    def __init__(
        self, *, presence: GatewayPresence, posting: Posting, metrics: GatewayMetrics,
        rate_per_s: float,
    ) -> None:  # fmt: skip
        self._presence = presence
        self._posting = posting
        self._metrics = metrics
        self._rate_per_s = rate_per_s

    async def on_frame(self, client: Client, frame: str | bytes) -> None:
        admission = client.bucket.take(time.monotonic())
        if admission is not Admission.ADMITTED:
            self._metrics.rejected.labels("ratelimited").inc()
            limit = f"at most {self._rate_per_s}/s"
            client.send_event({"type": "error", "error": "ratelimited", "detail": limit})
            if admission is Admission.HANG_UP:
                await client.ws.close(1008, "flooding")
            return
        try:
            event = orjson.loads(frame)
        except orjson.JSONDecodeError:
            self._metrics.rejected.labels("invalid_json").inc()
            client.send_event({"type": "error", "error": "invalid_json"})
            return
        if not isinstance(event, dict):
            client.send_event({"type": "error", "error": "invalid_event"})
            return
        kind = event.get("type")
        if kind in ("ping", "heartbeat"):
            await self._presence.alive(client)
            client.send_event({"type": "pong", "reply_to": event.get("id")})
        elif kind == "message":
            await self._posting.post(client, event)
        elif kind == "presence_sub":
            ids = event.get("ids")
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                client.send_event({"type": "error", "error": "invalid_event"})
                return
            client.presence_subs = set(ids[:MAX_PRESENCE_SUBS])
        else:
            self._metrics.rejected.labels("unknown_type").inc()
            client.send_event({"type": "error", "error": "unknown_type", "got": str(kind)[:40]})
