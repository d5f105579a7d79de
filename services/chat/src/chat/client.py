"""A small command-line chat client: reads a channel's live messages and sends what you type.

    uv run python -m chat.client --gateway ws://127.0.0.1:8080/chat-gateway \\
        --token xoxp-... --channel C0123456789

Reconnects (to the next ``--gateway`` given, if several) with the last ``seq`` seen per channel,
so nothing is missed. Lines you type are sent over the socket with a fresh ``client_msg_id``.
"""

import argparse
import asyncio
import contextlib
import sys
import uuid
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

DEFAULT_GATEWAY = "ws://127.0.0.1:8080/chat-gateway"
"""Through the edge, which spreads connections over the gateways."""


def render(event: dict[str, Any]) -> str | None:
    kind = event.get("type")
    if kind == "message":
        return f"[{event['channel']} #{event['seq']}] {event['user']}: {event['text']}"
    if kind == "hello":
        return f"* connected to {event['gateway']} as {event['user']}"
    if kind == "presence_change":
        return f"* {', '.join(event['users'])} {event['presence']}"
    if kind == "ack" and not event.get("ok"):
        return f"* not sent: {event.get('error')}"
    if kind == "error":
        return f"* error: {event.get('error')}"
    return None


async def session(
    url: str, token: str, seen: dict[str, int], outgoing: "asyncio.Queue[str]", channel: str
) -> None:
    since = ",".join(f"{c}:{s}" for c, s in seen.items())
    async with connect(f"{url}/ws?since={since}",
                       additional_headers={"Authorization": f"Bearer {token}"}) as ws:  # fmt: skip

        async def send_lines(ws: ClientConnection) -> None:
            while True:
                text = await outgoing.get()
                message = {"type": "message", "channel": channel, "text": text,
                           "client_msg_id": str(uuid.uuid4())}  # fmt: skip
                await ws.send(orjson.dumps(message).decode())

        sender = asyncio.create_task(send_lines(ws))
        try:
            async for frame in ws:
                event = orjson.loads(frame)
                if event.get("type") == "message":
                    seen[event["channel"]] = event["seq"]
                if line := render(event):
                    print(line, flush=True)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender


async def run(gateways: list[str], token: str, channel: str) -> None:
    seen: dict[str, int] = {}
    outgoing: asyncio.Queue[str] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    loop.add_reader(sys.stdin.fileno(), lambda: outgoing.put_nowait(sys.stdin.readline().strip()))
    attempt = 0
    while True:
        url = gateways[attempt % len(gateways)]
        try:
            await session(url, token, seen, outgoing, channel)
        except InvalidStatus as error:
            sys.exit(f"refused by {url}: HTTP {error.response.status_code}")
        except (OSError, ConnectionClosed) as error:
            print(f"* {url}: {error!r}; reconnecting", flush=True)
        attempt += 1
        await asyncio.sleep(min(5.0, 0.5 * attempt))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--gateway",
        action="append",
        default=[],
        help=f"ws://host:port[/prefix], repeatable (default: the edge, {DEFAULT_GATEWAY})",
    )
    parser.add_argument("--token", required=True)
    parser.add_argument("--channel", required=True, help="where typed lines go")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args.gateway or [DEFAULT_GATEWAY], args.token, args.channel))


if __name__ == "__main__":
    main()
