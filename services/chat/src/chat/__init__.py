"""Slack's messaging: WebSocket gateways, channel fanout, per-channel ordering, presence, replay."""
