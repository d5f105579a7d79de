"""Stripe: correctness through a crash. A merchant on the official stripe SDK (which retries
with idempotency keys) confirms payments against slow acquirers while the payments process is
SIGKILLed twice with acquirer calls in flight; after recovery every intent is compared with
what the acquirers themselves authorized."""

import asyncio
import time

import httpx

from loadtests.chaos.checkers import PaymentsChecker, ledgers
from loadtests.experiments.lab import Lab, wait_until
from loadtests.experiments.model import Check, Experiment, Findings, Scale

DURATION_S = {Scale.SMALL: 12.0, Scale.FULL: 60.0}
PAYMENTS_PER_S = 6.0
ACQUIRER_LATENCY_MS = 400
"""Slow enough that a kill always finds calls in flight."""
VICTIM = "payments"
SETTLE_S = 60.0
MONEY_TAKEN = ("approved",)
"""An acquirer's authorization still holding the customer's money (voided ones gave it back)."""


async def slow_acquirers(lab: Lab) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        for url in lab.acquirer_urls.values():
            original = (await http.get(f"{url}/profile")).json()
            slowed = {**original, "latency_ms": ACQUIRER_LATENCY_MS}
            (await http.put(f"{url}/profile", json=slowed)).raise_for_status()

            async def put_back(url: str = url, original: dict[str, object] = original) -> None:
                async with httpx.AsyncClient(timeout=10) as again:
                    (await again.put(f"{url}/profile", json=original)).raise_for_status()

            lab.on_restore(put_back)


async def money_held(lab: Lab, ids: list[str]) -> tuple[dict[str, str], dict[str, int]]:
    """Each intent's status at payments, and how many of its attempts hold money."""
    stored, answers = await ledgers(lab.database_urls["payments"], lab.acquirer_urls, ids)
    held = {
        i: n for i, statuses in answers.items() if (n := sum(s in MONEY_TAKEN for s in statuses))
    }
    return stored, held


async def run(lab: Lab, scale: Scale) -> Findings:
    duration = DURATION_S[scale]
    await slow_acquirers(lab)
    merchant = PaymentsChecker(lab.edge_url, lab.database_urls["payments"], lab.acquirer_urls,
                               per_s=PAYMENTS_PER_S)  # fmt: skip
    await merchant.setup()
    paying = asyncio.create_task(merchant.run())
    start = time.monotonic()
    kills = []
    for at in (duration / 3, 2 * duration / 3):
        await asyncio.sleep(max(0.0, at - (time.monotonic() - start)))
        kills.append(await asyncio.to_thread(lab.act, VICTIM, "kill"))
        await lab.wait_ready(VICTIM)
    await asyncio.sleep(max(0.0, duration - (time.monotonic() - start)))
    paying.cancel()
    await asyncio.gather(paying, return_exceptions=True)
    ids = list(merchant.statuses)

    async def settled() -> bool:
        stored, _ = await money_held(lab, ids)
        return not any(status == "processing" for status in stored.values())

    settle_s = await wait_until(settled, timeout_s=SETTLE_S, what="every intent settled",
                                every_s=1.0)  # fmt: skip
    stored, held = await money_held(lab, ids)
    doubled = sum(n > 1 for n in held.values())
    lost = sum(
        1 for i in ids
        if (merchant.statuses[i] == "succeeded" and stored.get(i) != "succeeded")
        or (held.get(i, 0) > 0 and stored.get(i) != "succeeded")
        or (stored.get(i) == "succeeded" and held.get(i, 0) == 0)
    )  # fmt: skip
    by_status: dict[str, int] = {}
    for status in stored.values():
        by_status[status] = by_status.get(status, 0) + 1
    rows = [
        {"intents": len(ids), **{f"now {k}": v for k, v in sorted(by_status.items())},
         "client errors seen": merchant.errors, "double charges": doubled,
         "lost or unbalanced": lost}
    ]  # fmt: skip
    return Findings(
        table=rows,
        checks=[
            Check("intents charged twice", doubled, "<=", 0),
            Check(
                "charges lost or unbalanced (money held and intent not succeeded, or the reverse)",
                lost,
                "<=",
                0,
            ),
            Check("intents checked", len(ids), ">", 0),
        ],
        setup={
            "merchant": f"stripe SDK through the edge, {PAYMENTS_PER_S:g} payments/s, "
            "create then confirm, SDK retries with idempotency keys",
            "acquirers": f"{ACQUIRER_LATENCY_MS} ms per authorization",
            "fault": f"SIGKILL of {VICTIM} at {duration / 3:.0f} s and {2 * duration / 3:.0f} s",
            "settled": f"{settle_s:.1f} s after the load stopped, no intent left processing",
        },
        notes=kills,
    )


EXPERIMENT = Experiment(
    name="stripe-crash-mid-charge",
    company="Stripe",
    claim="Financial operations must be correct, even at the cost of latency. Every write is "
    "idempotent, every state transition is logged, and every failure mode has a defined "
    "recovery path.",
    hypothesis="After payments is killed twice with acquirer calls in flight: 0 intents "
    "charged twice, 0 charges lost, every intent settled and its money where its status says.",
    action="SIGKILL payments twice under the stripe SDK's load (the supervisor restarts it)",
    run=run,
    kills=True,
)
