"""Slack's messaging: WebSocket gateways, a fanout service, per-channel ordering, presence, replay."""
