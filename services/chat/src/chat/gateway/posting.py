"""Messages sent over a socket go through the Web API, as Slack's gateways do: one place
stores, orders and dedupes them (``client_msg_id``); the socket gets an ``ack``."""

from typing import Any

import httpx

from chat.gateway.connection import Client


class Posting:
    def __init__(self, api: httpx.AsyncClient, api_url: str) -> None:
        self._api = api
        self._url = f"{api_url}/api/chat.postMessage"

    async def post(self, client: Client, event: dict[str, Any]) -> None:
        """Post the client's ``message`` event as the client, and acknowledge it."""
        client_msg_id = event.get("client_msg_id")
        if not isinstance(client_msg_id, str) or not 1 <= len(client_msg_id) <= 64:
            client.send_event({"type": "error", "error": "client_msg_id_required"})
            return
        body = {"channel": event.get("channel"), "text": event.get("text"),
                "client_msg_id": client_msg_id}  # fmt: skip
        try:
            response = await self._api.post(
                self._url, json=body, headers={"authorization": f"Bearer {client.token}"}
            )
            answer = response.json()
        except (httpx.HTTPError, ValueError):
            client.send_event(
                {"type": "error", "error": "unavailable", "client_msg_id": client_msg_id}
            )
            return
        if answer.get("ok"):
            message = answer["message"]
            client.send_event({"type": "ack", "ok": True, "client_msg_id": client_msg_id,
                               "channel": answer["channel"], "seq": message["seq"],
                               "ts": message["ts"]})  # fmt: skip
        else:
            client.send_event({"type": "ack", "ok": False, "client_msg_id": client_msg_id,
                               "error": answer.get("error", "unknown")})  # fmt: skip
