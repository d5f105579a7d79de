"""Webhook rules without servers: the retry schedule, Stripe's signature as the stripe SDK
checks it, which addresses a webhook may target, and resolving a URL to a checked address."""

import json
import time

import pytest
import stripe
from pydantic import ValidationError

from payments.domain.webhooks import GIVE_UP_AFTER_S, Backoff, refused_address, signature_header
from payments.settings import PaymentsSettings
from payments.targets import Resolver, TargetRefused, resolve_target


def test_backoff_doubles_with_jitter_and_stays_bounded() -> None:
    backoff = Backoff(base_s=1, max_s=60)
    for attempts in range(1, 40):
        step = min(2.0 ** (attempts - 1), 60)
        low, high = backoff.delay_s(attempts, 0, 0.0), backoff.delay_s(attempts, 0, 0.999999)
        assert low == step / 2 and high is not None and step / 2 < high <= step
    assert backoff.delay_s(10**6, 0, 0.5) == 45.0, "no overflow, still bounded"
    assert backoff.delay_s(3, GIVE_UP_AFTER_S, 0.5) is None, "given up after three days"


def test_the_signature_verifies_with_the_stripe_sdk() -> None:
    payload = json.dumps({"id": "evt_1", "object": "event", "type": "payment_intent.created",
                          "data": {"object": {"id": "pi_1"}}}).encode()  # fmt: skip
    header = signature_header(payload, "whsec_test", int(time.time()))
    event = stripe.Webhook.construct_event(payload.decode(), header, "whsec_test")
    assert event.id == "evt_1"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload.decode(), header, "whsec_other")


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"), ("127.9.9.9", "loopback"), ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"), ("0.0.0.0", "unspecified"), ("::", "unspecified"),
        ("169.254.169.254", "link-local"), ("fe80::1", "link-local"), ("fe80::1%eth0", "link-local"),
        ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"),
        ("fd00::1", "private"), ("64:ff9b::a00:1", "private"), ("100.64.0.1", "non-public"),
        ("224.0.0.1", "multicast"), ("240.0.0.1", "private"), ("not-an-ip", "not an IP address"),
        ("93.184.216.34", None), ("2606:4700::1111", None), ("::ffff:8.8.8.8", None),
    ],
)  # fmt: skip
def test_only_public_addresses_may_be_targets(address: str, reason: str | None) -> None:
    assert refused_address(address) == reason


def _resolver(*addresses: str) -> Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


async def test_every_address_of_a_host_is_checked() -> None:
    with pytest.raises(TargetRefused, match=r"resolves to 10\.0\.0\.5 \(private address\)"):
        await resolve_target("https://hooks.example/x", allow_private=False,
                             resolver=_resolver("93.184.216.34", "10.0.0.5"))  # fmt: skip


async def test_a_checked_target_is_pinned_to_the_address_that_was_checked() -> None:
    target = await resolve_target("https://hooks.example:8443/in?x=1", allow_private=False,
                                  resolver=_resolver("93.184.216.34"))  # fmt: skip
    assert target.url == "https://93.184.216.34:8443/in?x=1"
    assert target.headers == {"host": "hooks.example:8443"}
    assert target.extensions == {"sni_hostname": "hooks.example"}


async def test_unresolvable_and_odd_urls_are_refused() -> None:
    async def fails(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    with pytest.raises(TargetRefused, match="cannot be resolved"):
        await resolve_target("http://nowhere.invalid/", allow_private=False, resolver=fails)
    with pytest.raises(TargetRefused, match="http"):
        await resolve_target("ftp://example.com/", allow_private=False, resolver=fails)


async def test_development_may_allow_private_targets_and_production_may_not() -> None:
    target = await resolve_target("http://127.0.0.1:9/x", allow_private=True)
    assert target.url == "http://127.0.0.1:9/x" and target.headers == {}
    assert PaymentsSettings(environment="development").webhook_private_targets_allowed
    assert not PaymentsSettings(
        environment="development", webhook_allow_private_targets=False
    ).webhook_private_targets_allowed
    assert not PaymentsSettings(environment="production").webhook_private_targets_allowed
    with pytest.raises(ValidationError, match="private webhook targets"):
        PaymentsSettings(environment="production", webhook_allow_private_targets=True)
