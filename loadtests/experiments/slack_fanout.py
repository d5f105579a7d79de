"""Slack: the channel fanout. One channel whose members are all connected across both gateways;
messages posted one at a time with ``chat.fanout`` = per-gateway batches (the fanout hands each
gateway one batch naming its recipients) and per_member (one hand-off per recipient): delivery
latency from the post to every member's socket, and CPU seconds per message."""

import asyncio
import time
import uuid

import asyncpg
import httpx

from chat.store import ChatStore
from loadtests.chat_fanout import Recipient, Tally, wait_for
from loadtests.experiments.lab import Lab
from loadtests.experiments.model import Check, Experiment, Findings, Scale, quantile

SIZE = {Scale.SMALL: (200, 3), Scale.FULL: (10_000, 10)}
"""(members, messages per mode)."""
GATEWAYS = ("chat-gateway", "chat-gateway-2")
WORKING = ("chat", "chat-fanout", *GATEWAYS)
MODES = ("per_gateway_batch", "per_member")
SEED_BOUND_MS = 200.0
INVITE_BATCH = 500


async def run(lab: Lab, scale: Scale) -> Findings:
    members, messages = SIZE[scale]
    tag = uuid.uuid4().hex[:6]
    pool = await asyncpg.create_pool(lab.database_urls["chat"], min_size=1, max_size=4)
    try:
        created = await ChatStore(pool).create_users([f"fan{tag}-{i}" for i in range(members)])
    finally:
        await pool.close()
    tokens = [token for _, token in created]
    owner = tokens[0]
    tally = Tally(members)
    transports: list[asyncio.BaseTransport] = []
    rows, p99 = [], {}
    async with httpx.AsyncClient(base_url=f"{lab.urls['chat']}/api", timeout=60,
                                 headers={"authorization": f"Bearer {owner}"}) as http:  # fmt: skip
        channel = (await http.post("/conversations.create", json={"name": f"fan-{tag}"})).json()
        channel_id = channel["channel"]["id"]
        for start in range(1, members, INVITE_BATCH):
            users = ",".join(user.id for user, _ in created[start : start + INVITE_BATCH])
            invite = {"channel": channel_id, "users": users}
            answer = (await http.post("/conversations.invite", json=invite)).json()
            if not answer.get("ok"):
                raise RuntimeError(f"invite refused: {answer}")
        loop = asyncio.get_running_loop()
        slots = asyncio.Semaphore(100)

        async def connect(n: int, token: str) -> None:
            host, port = lab.urls[GATEWAYS[n % 2]].removeprefix("http://").split(":")
            async with slots:
                transport, _ = await loop.create_connection(
                    lambda: Recipient(f"{host}:{port}", token, tally), host, int(port)
                )
            transports.append(transport)

        try:
            await asyncio.gather(*(connect(n, t) for n, t in enumerate(tokens)))
            await wait_for(tally.complete("hello"), 120)
            if tally.hellos < members:
                raise RuntimeError(f"only {tally.hellos} of {members} members connected")
            for mode in MODES:
                await lab.flip("chat.fanout", mode, readers=["chat-fanout"])
                cpu_before = {name: lab.cpu_seconds(name) for name in WORKING}
                latencies: list[float] = []
                for n in range(messages):
                    sent = time.perf_counter()
                    body = {"channel": channel_id, "text": f"{mode} {n}"}
                    posted = (await http.post("/chat.postMessage", json=body)).json()
                    seq = posted["message"]["seq"]
                    await wait_for(tally.complete(seq), 60)
                    latencies += [(at - sent) * 1000 for at in tally.received(seq)]
                cpu = sum(lab.cpu_seconds(name) - cpu_before[name] for name in WORKING)
                p99[mode] = quantile(latencies, 0.99)
                rows.append({
                    "chat.fanout": mode, "members": members, "messages": messages,
                    "deliveries": len(latencies), "expected": members * messages,
                    "p50 ms": quantile(latencies, 0.5), "p99 ms": p99[mode],
                    "CPU s per message": cpu / messages,
                })  # fmt: skip
        finally:
            for transport in transports:
                transport.close()
    return Findings(
        table=rows,
        checks=[
            Check("delivery p99, per-gateway batches", p99[MODES[0]], "<=", SEED_BOUND_MS, " ms"),
            Check("delivery p99, per-member deliveries", p99[MODES[1]], ">", SEED_BOUND_MS, " ms"),
        ],
        setup={
            "channel": f"{members:,} members, every one connected (half on each gateway)",
            "timing": "from the post at the chat API to each member's socket reading the frame",
            "CPU": f"user + system seconds of {', '.join(WORKING)}",
        },
        bars={mode: value for mode, value in p99.items()},
        bars_unit="delivery p99 (ms)",
    )


EXPERIMENT = Experiment(
    name="slack-fanout",
    company="Slack",
    claim='Channel fanout: dedicated service to expand "message to #general" into individual '
    "deliveries. A message to a 10K-member channel must reach 10K connections. Messages must "
    "be delivered to all participants within 200ms.",
    hypothesis="Per-gateway batches deliver to every member within 200 ms at p99; one hand-off "
    "per member does not.",
    action="chat.fanout per_gateway_batch, then per_member",
    run=run,
)
