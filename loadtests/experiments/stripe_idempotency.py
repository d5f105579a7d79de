"""Stripe: idempotency keys. A merchant on the official stripe SDK whose every response is lost
on the way back after the server acted, so it sends the same request again with the same
Idempotency-Key, as the SDK's own retries do; with ``payments.idempotency`` enforced and
ignored (the deliberately unsafe demo mode). The acquirers count what was charged."""

import asyncio
import uuid
from typing import Any

import httpx
import stripe

from loadtests.experiments.lab import Lab
from loadtests.experiments.model import Check, Experiment, Findings, Scale

PURCHASES = {Scale.SMALL: 10, Scale.FULL: 200}
CARD = {"amount": 1500, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}


async def approved(lab: Lab) -> int:
    total = 0
    async with httpx.AsyncClient(timeout=10) as http:
        for url in lab.acquirer_urls.values():
            total += (await http.get(f"{url}/stats")).json()["approved"]
    return total


async def merchant(lab: Lab) -> stripe.StripeClient:
    async with httpx.AsyncClient(timeout=10) as http:
        created = await http.post(
            f"{lab.edge_url}/payments/dev/merchants", json={"name": "idempotency-experiment"}
        )
        created.raise_for_status()
    # No retries of the SDK's own: the experiment is the retrying client.
    return stripe.StripeClient(
        created.json()["secret_key"],
        base_addresses={"api": f"{lab.edge_url}/payments"},
        max_network_retries=0,
    )


def purchase_with_a_lost_response(client: stripe.StripeClient) -> tuple[str, str]:
    """One purchase: the request, its answer lost, the same request again with the same key;
    the two intent ids the server gave."""
    options: Any = {"idempotency_key": f"exp-{uuid.uuid4()}"}
    first = client.v1.payment_intents.create(params=dict(CARD), options=options)  # type: ignore[arg-type]
    second = client.v1.payment_intents.create(params=dict(CARD), options=options)  # type: ignore[arg-type]
    return first.id, second.id


async def run(lab: Lab, scale: Scale) -> Findings:
    n = PURCHASES[scale]
    client = await merchant(lab)
    rows, doubled = [], {}
    for mode in ("enforced", "ignored"):
        await lab.flip("payments.idempotency", mode, readers=["payments"])
        before = await approved(lab)
        pairs = [await asyncio.to_thread(purchase_with_a_lost_response, client) for _ in range(n)]
        charged = await approved(lab) - before
        doubled[mode] = charged - n
        rows.append(
            {
                "payments.idempotency": mode,
                "purchases": n,
                "requests sent": 2 * n,
                "charges at the acquirers": charged,
                "double charges": charged - n,
                "retries answered with the first intent": sum(a == b for a, b in pairs),
            }
        )
    return Findings(
        table=rows,
        checks=[
            Check("double charges with the key enforced", doubled["enforced"], "<=", 0),
            Check("double charges with the key ignored", doubled["ignored"], ">", 0),
        ],
        setup={
            "client": "the official stripe SDK through the edge, its own retries off",
            "network": "every first response dropped after the server acted; the client "
            "retries once with the same Idempotency-Key",
        },
        bars={f"key {k}": float(v) for k, v in doubled.items()},
        bars_unit="double charges",
    )


EXPERIMENT = Experiment(
    name="stripe-idempotency",
    company="Stripe",
    claim="Idempotency keys: every API request requires an idempotency key. Network retries "
    "must never double-charge a customer.",
    hypothesis="Enforced: 0 double charges; ignored: more than 0 (the guard is what prevents "
    "them).",
    action="payments.idempotency enforced, then ignored (a demo mode production refuses)",
    run=run,
)
