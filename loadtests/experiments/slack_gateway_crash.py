"""Slack: WebSocket gateways and replay. Clients follow one channel through the edge (plain
``websockets`` clients that reconnect with ``since``, as Slack's do) while messages are posted;
one gateway is SIGKILLed mid-stream: does every client resume on the other with no gap and no
duplicate, and how long until every one of them has a message posted after the kill."""

import asyncio
import time

from loadtests.chaos.checkers import ChatChecker
from loadtests.experiments.lab import Lab, wait_until
from loadtests.experiments.model import Check, Experiment, Findings, Scale

SIZE = {Scale.SMALL: (60, 12.0), Scale.FULL: (2_000, 40.0)}
"""(clients, seconds of posting)."""
POSTS_PER_S = 4.0
VICTIM = "chat-gateway"
GRACE_S = 60.0


async def run(lab: Lab, scale: Scale) -> Findings:
    clients, duration = SIZE[scale]
    chat = ChatChecker(lab.edge_url, clients=clients, posts_per_s=POSTS_PER_S)
    await chat.setup()
    following = asyncio.create_task(chat.run())
    try:
        await wait_until(lambda: _all_connected(chat), timeout_s=120, what="every client connected")
        start = time.monotonic()
        await asyncio.sleep(duration / 3)
        connections = [m.connections for m in chat.members]
        newest = max((m.seqs[-1] for m in chat.members if m.seqs), default=0)
        killed_at = time.monotonic() - start
        await asyncio.to_thread(lab.act, VICTIM, "kill")

        async def recovered() -> bool:
            return all(m.seqs and m.seqs[-1] > newest for m in chat.members)

        recovery = await wait_until(recovered, timeout_s=60, what="every client past the kill")
        await asyncio.sleep(max(0.0, duration - (time.monotonic() - start)))
        verdict = await chat.verdict(GRACE_S)
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
    moved = sum(m.connections > before for m, before in zip(chat.members, connections, strict=True))
    return Findings(
        table=[
            {
                "clients": clients,
                "messages checked per client": verdict.checked // max(1, clients),
                "reconnected after the kill": moved,
                "gaps or duplicates": len(verdict.violations),
                "seconds until every client had a message posted after the kill": recovery,
                "posts that failed": chat.post_errors,
            }
        ],
        checks=[
            Check(
                "clients with a gap, a duplicate or out of order", len(verdict.violations), "<=", 0
            ),
            Check("clients that resumed on the other gateway", moved, ">", 0),
            Check("seconds to full recovery", recovery, "<", 10.0, " s"),
        ],
        setup={
            "clients": f"{clients} websockets clients through the edge, reconnecting with since",
            "posting": f"{POSTS_PER_S:g} messages/s through the Web API",
            "fault": f"SIGKILL of {VICTIM} at {killed_at:.1f} s (restarted after its backoff)",
        },
        notes=verdict.violations[:10],
    )


async def _all_connected(chat: ChatChecker) -> bool:
    return all(m.connections > 0 for m in chat.members)


EXPERIMENT = Experiment(
    name="slack-gateway-crash",
    company="Slack",
    claim="WebSocket gateway: dedicated connection-management layer. Separates stateful "
    "connections from stateless API logic. Message ordering per channel: monotonically "
    "increasing IDs per channel. Users must see messages in order within a channel.",
    hypothesis="With a gateway killed mid-stream, every client resumes (on the other gateway) "
    "with no gap and no duplicate, all of them within 10 s.",
    action="SIGKILL chat-gateway while messages are posted (the supervisor restarts it)",
    run=run,
    kills=True,
)
