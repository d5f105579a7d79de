"""Webhook targets (SSRF): a payments process configured as production refuses loopback, private
and link-local URLs with a 400 the stripe SDK understands, and the sender checks the address
again before each delivery (DNS rebinding) and never follows a redirect."""

from typing import Any, cast

import asyncpg
import pytest
import stripe

from devstack.stack import NativeStack
from payments.domain.webhooks import Backoff
from payments.webhooks import WebhookSender, webhook_client
from tests.payments.integration.conftest import new_merchant, pending_delivery
from tests.payments.integration.receivers import Receiver

pytestmark = pytest.mark.integration


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("http://127.0.0.1:9000/hooks", "127.0.0.1 (loopback address)"),
        ("http://localhost:9000/hooks", "(loopback address)"),
        ("http://[::1]/hooks", "::1 (loopback address)"),
        ("http://[::ffff:127.0.0.1]/hooks", "(loopback address)"),
        ("http://169.254.169.254/latest/meta-data/", "(link-local address)"),
        ("https://10.0.0.8/hooks", "(private address)"),
        ("http://192.168.1.20/hooks", "(private address)"),
        ("http://0.0.0.0:8006/hooks", "(unspecified address)"),
    ],
)
def test_private_targets_are_400s_naming_url(
    strict_payments: NativeStack, url: str, refused: str
) -> None:
    merchant = new_merchant(strict_payments, "ssrf", direct=True)
    with pytest.raises(stripe.InvalidRequestError) as error:
        merchant.client.v1.webhook_endpoints.create(params={"url": url, "enabled_events": ["*"]})
    assert error.value.http_status == 400
    assert (error.value.param, error.value.code) == ("url", "url_invalid")
    assert refused in str(error.value.user_message)
    body = cast(dict[str, Any], error.value.json_body)
    assert body["error"]["type"] == "invalid_request_error" and body["error"]["request_id"]


@pytest.mark.e2e
def test_a_public_target_is_accepted(strict_payments: NativeStack) -> None:
    merchant = new_merchant(strict_payments, "ssrf-ok", direct=True)
    endpoint = merchant.client.v1.webhook_endpoints.create(
        params={"url": "https://93.184.216.34/hooks", "enabled_events": ["*"]}
    )
    assert endpoint.url == "https://93.184.216.34/hooks"


async def _send_once(sender: WebhookSender) -> None:
    await sender.tick()
    await sender.wait_idle()


async def test_the_address_is_checked_again_at_delivery_time(
    pool: "asyncpg.Pool[asyncpg.Record]",
) -> None:
    receiver = Receiver()

    async def rebound(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]  # the name was public when registered; now it is loopback

    http = webhook_client(4, 2.0)
    sender = WebhookSender(pool, http, timeout_s=2.0, backoff=Backoff(max_s=1),
                           allow_private=False, resolver=rebound)  # fmt: skip
    try:
        delivery = await pending_delivery(pool, f"http://hooks.rebind.test:{receiver.port}/in")
        await _send_once(sender)
        row = await pool.fetchrow("SELECT * FROM webhook_deliveries WHERE id = $1", delivery)
        assert row is not None and row["attempts"] == 1 and row["status"] == "pending"
        assert "refused" in row["last_error"] and "loopback" in row["last_error"]
        assert receiver.calls == [], "nothing was sent to the rebound address"
    finally:
        await sender.close()
        await http.aclose()
        receiver.stop()


async def test_redirects_are_not_followed(pool: "asyncpg.Pool[asyncpg.Record]") -> None:
    redirecting, internal = Receiver(), Receiver()
    redirecting.status, redirecting.location = 307, internal.url
    http = webhook_client(4, 2.0)
    sender = WebhookSender(pool, http, timeout_s=2.0, allow_private=True)
    try:
        delivery = await pending_delivery(pool, redirecting.url)
        await _send_once(sender)
        row = await pool.fetchrow("SELECT * FROM webhook_deliveries WHERE id = $1", delivery)
        assert row is not None and (row["status"], row["last_error"]) == ("pending", "HTTP 307")
        assert len(redirecting.calls) == 1 and internal.calls == []
    finally:
        await sender.close()
        await http.aclose()
        redirecting.stop()
        internal.stop()
