"""Chat fanout latency (not a test): N WebSocket clients across both gateways, all in one
channel; each message posted through the Web API is timed from the POST to its arrival at every
recipient.

    uv run python -m loadtests.chat_fanout [--clients 10000] [--messages 20]

Natively: the local servers, the chat API, the fanout and both gateways are started here. The
clients are lean asyncio protocols (an HTTP upgrade, then frames parsed by hand) so that one
process can hold ten thousand of them on a 2-core machine without being the bottleneck it
measures; correctness with a real client library is the job of tests/chat.
"""

import argparse
import asyncio
import base64
import contextlib
import os
import time
from pathlib import Path
from typing import cast

import asyncpg
import httpx
import orjson
import uvloop

from chat.store import ChatStore
from devstack.servers import LocalServers
from devstack.stack import NativeStack
from loadtests.measure import latency_rows
from loadtests.report import record_samples, write_report

GATEWAYS = ("chat-gateway", "chat-gateway-2")
INVITE_BATCH = 500


class Tally:
    """Arrival times per message ``seq``, and an event set once every client has one."""

    def __init__(self, clients: int) -> None:
        self.clients = clients
        self.arrivals: dict[int, list[float]] = {}
        self.hellos = 0
        self._complete: dict[object, asyncio.Event] = {}

    def complete(self, key: object) -> asyncio.Event:
        return self._complete.setdefault(key, asyncio.Event())

    def arrived(self, seq: int, at: float) -> None:
        times = self.arrivals.setdefault(seq, [])
        times.append(at)
        if len(times) == self.clients:
            self.complete(seq).set()

    def hello(self) -> None:
        self.hellos += 1
        if self.hellos == self.clients:
            self.complete("hello").set()

    def received(self, seq: int) -> list[float]:
        return self.arrivals.get(seq, [])


async def wait_for(event: asyncio.Event, timeout_s: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout_s)


class Recipient(asyncio.Protocol):
    """One WebSocket client: records when each channel message arrives."""

    def __init__(self, host: str, token: str, tally: Tally) -> None:
        self._request = (
            f"GET /ws?token={token} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n\r\n"
        ).encode()
        self._buffer = bytearray()
        self._upgraded = False
        self._tally = tally
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self._buffer += data
        if not self._upgraded:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self._buffer.startswith(b"HTTP/1.1 101"):
                raise ConnectionError(bytes(self._buffer[:80]).decode(errors="replace"))
            del self._buffer[: end + 4]
            self._upgraded = True
        while len(self._buffer) >= 2:
            opcode, length = self._buffer[0] & 0x0F, self._buffer[1] & 0x7F
            start = 2
            if length == 126:
                length, start = int.from_bytes(self._buffer[2:4], "big"), 4
            elif length == 127:
                length, start = int.from_bytes(self._buffer[2:10], "big"), 10
            if len(self._buffer) < start + length:
                return
            payload = bytes(self._buffer[start : start + length])
            del self._buffer[: start + length]
            if opcode == 0x1:
                self._on_text(payload, now)
            elif opcode == 0x9 and self.transport:  # ping: a masked pong (zero mask)
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)

    def _on_text(self, payload: bytes, now: float) -> None:
        event = orjson.loads(payload)
        if event.get("type") == "message":
            self._tally.arrived(event["seq"], now)
        elif event.get("type") == "hello":
            self._tally.hello()


def rss_kib(stack: NativeStack, name: str) -> int:
    process = stack.processes[name].popen
    assert process is not None
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def bench(stack: NativeStack, servers: LocalServers, clients: int, messages: int
                ) -> list[dict[str, object]]:  # fmt: skip
    pool = await asyncpg.create_pool(servers.postgres.url("chat"), min_size=1, max_size=8)
    store = ChatStore(pool)
    created = await asyncio.gather(*(store.create_user(f"load-{i}-{time.time_ns()}")
                                     for i in range(clients)))  # fmt: skip
    await pool.close()
    users = [(user.id, token) for user, token in created]
    api = stack.url("chat")
    owner = users[0][1]
    async with httpx.AsyncClient(base_url=f"{api}/api", timeout=60,
                                 headers={"authorization": f"Bearer {owner}"}) as http:  # fmt: skip
        name = f"all-hands-{time.time_ns()}"
        channel_id = (await http.post("/conversations.create", json={"name": name})).json()[
            "channel"
        ]["id"]
        for start in range(1, clients, INVITE_BATCH):
            batch = ",".join(uid for uid, _ in users[start : start + INVITE_BATCH])
            body = {"channel": channel_id, "users": batch}
            answer = (await http.post("/conversations.invite", json=body)).json()
            assert answer["ok"], answer

        before = {name: rss_kib(stack, name) for name in GATEWAYS}
        tally = Tally(clients)
        loop = asyncio.get_running_loop()
        connect_slots = asyncio.Semaphore(100)
        transports = []

        async def open_one(n: int, token: str) -> None:
            name = GATEWAYS[n % 2]
            host, port = stack.host, stack.ports[name]
            async with connect_slots:
                transport, _ = await loop.create_connection(
                    lambda: Recipient(f"{host}:{port}", token, tally), host, port
                )
                transports.append(transport)

        started = time.perf_counter()
        await asyncio.gather(*(open_one(n, token) for n, (_, token) in enumerate(users)))
        await wait_for(tally.complete("hello"), 120)
        print(f"{tally.hellos:,} of {clients:,} clients connected", flush=True)
        connect_s = time.perf_counter() - started
        await asyncio.sleep(3)  # let the join events and route announcements settle
        after = {name: rss_kib(stack, name) for name in GATEWAYS}

        posted_at: dict[int, float] = {}
        for n in range(messages):
            sent = time.perf_counter()
            body = {"channel": channel_id, "text": f"load {n}"}
            seq = (await http.post("/chat.postMessage", json=body)).json()["message"]["seq"]
            posted_at[seq] = sent
            await wait_for(tally.complete(seq), 30)
        # a burst: messages/s the whole path sustains into 10,000 sockets
        burst_start = time.perf_counter()
        for n in range(messages):
            body = {"channel": channel_id, "text": f"burst {n}"}
            last_seq = (await http.post("/chat.postMessage", json=body)).json()["message"]["seq"]
        await wait_for(tally.complete(last_seq), 60)
        burst_s = time.perf_counter() - burst_start
        for transport in transports:
            transport.close()

    latencies = [(arrived - sent) * 1000 for seq, sent in posted_at.items()
                 for arrived in tally.received(seq)]  # fmt: skip
    delivered = sum(len(tally.received(seq)) for seq in posted_at)
    per_message_p99 = [
        sorted((a - sent) * 1000 for a in tally.received(seq))[int(clients * 0.99) - 1]
        for seq, sent in posted_at.items() if len(tally.received(seq)) >= clients * 0.99
    ]  # fmt: skip
    memory = sum(after[g] - before[g] for g in GATEWAYS) / clients
    record_samples("chat", f"delivery, post -> each of {clients:,} members", latencies)
    return [
        *latency_rows("delivery", f" (post -> each of {clients:,} members)", latencies, 200.0),
        {"metric": "worst single-message p99 ms", "value": max(per_message_p99),
         "baseline": 200.0},
        {"metric": "deliveries received / expected", "value": delivered,
         "baseline": clients * messages},
        {"metric": f"burst: messages/s into a {clients:,}-member channel",
         "value": messages / burst_s, "baseline": messages / burst_s},
        {"metric": "burst: deliveries/s", "value": messages * clients / burst_s,
         "baseline": messages * clients / burst_s},
        {"metric": "connections held", "value": clients, "baseline": clients},
        {"metric": "gateway memory KiB per connection", "value": memory, "baseline": memory},
        {"metric": "seconds to connect every client", "value": connect_s, "baseline": connect_s},
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=20)
    args = parser.parse_args()
    with LocalServers.create() as servers:
        stack = NativeStack.create(servers)
        stack.start(["chat", "chat-fanout", *GATEWAYS])
        try:
            rows = uvloop.run(bench(stack, servers, args.clients, args.messages))
        finally:
            stack.stop()
    title = (f"chat fanout: {args.clients:,} WebSocket clients on 2 gateways in one channel, "
             f"{args.messages} timed messages then a burst of as many")  # fmt: skip
    print(write_report("chat", title, "target p99 200 ms / same-run figures", rows))


if __name__ == "__main__":
    main()
