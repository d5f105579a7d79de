"""A payments process killed mid-confirm: the retried request resumes; one charge, balanced books."""

import threading
import uuid

import asyncpg
import httpx
import pytest

from devstack.processes import wait_until
from devstack.stack import NativeStack
from tests.payments.integration.conftest import Merchant, acquirer_stats, set_profile
from tests.waiting import eventually

pytestmark = pytest.mark.e2e


async def test_sigkill_mid_confirm_then_retry_charges_once(
    native_stack: NativeStack, merchant: Merchant, acquirers: dict[str, str]
) -> None:
    for url in acquirers.values():
        set_profile(url, latency_ms=1500)  # the acquirer call is in flight when we kill
    before = acquirer_stats(acquirers)
    run = f"crash-{uuid.uuid4().hex[:8]}"
    payments_url = native_stack.url("payments")
    request = {
        "url": f"{payments_url}/v1/payment_intents",
        "data": {"amount": "3100", "currency": "usd", "payment_method": "pm_card_visa",
                 "confirm": "true", "metadata[run]": run},
        "headers": {"authorization": f"Bearer {merchant.secret_key}", "idempotency-key": run},
    }  # fmt: skip
    first: dict[str, object] = {}

    def send_first() -> None:
        try:
            first["response"] = httpx.post(timeout=30, **request)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            first["error"] = exc

    sender = threading.Thread(target=send_first)
    sender.start()
    conn = await asyncpg.connect(native_stack.servers.postgres.url("payments"))
    try:

        async def attempt_in_flight() -> bool:
            status = await conn.fetchval(
                "SELECT a.status FROM charge_attempts a JOIN payment_intents i ON i.id = a.intent_id "
                "WHERE i.metadata->>'run' = $1",
                run,
            )
            return bool(status == "pending")

        await eventually(attempt_in_flight, timeout_s=20, what="the charge attempt to be written")
        native_stack.kill("payments")
        sender.join(30)
        assert "error" in first, "the first request died with its process"
        native_stack.start(["payments"])

        responses: list[httpx.Response] = []

        def retry_finished() -> bool:
            # 409 while the dead request's lock is fresh; then the retry (or the reaper) resumes.
            responses.append(httpx.post(timeout=30, **request))  # type: ignore[arg-type]
            return responses[-1].status_code != 409

        wait_until(retry_finished, timeout_s=60, what="the retried request to finish")
        assert responses[-1].status_code == 200, responses[-1].text
        assert responses[-1].json()["status"] == "succeeded"
        intents = await conn.fetch(
            "SELECT id FROM payment_intents WHERE metadata->>'run' = $1", run
        )
        assert len(intents) == 1
        balance = await conn.fetchval(
            "SELECT sum(amount) FROM ledger_entries WHERE intent_id = $1", intents[0]["id"]
        )
        assert balance == 0
        receivable = await conn.fetchval(
            "SELECT sum(amount) FROM ledger_entries WHERE intent_id = $1 AND account = 'acquirer_receivable'",
            intents[0]["id"],
        )
        assert receivable == 3100
    finally:
        await conn.close()
    after = acquirer_stats(acquirers)
    assert after["authorizations"] - before["authorizations"] == 1, "exactly one charge"
