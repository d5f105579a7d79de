"""Tier signatures and internal headers: what a client can and cannot claim at the edge."""

from typing import Any

import pytest
from pydantic import ValidationError

from edge.domain import trust
from edge.settings import EdgeSettings

SECRET = "s3cret-s3cret-s3cret"
NOW = 1_800_000_000.0


def test_a_signature_verifies_for_its_own_request_only() -> None:
    value = trust.sign(SECRET, "GET", "/catalog/v1/titles/7?x=1", "pop-2", NOW)
    assert trust.verify(SECRET, value, "GET", "/catalog/v1/titles/7?x=1", NOW + 5) == "pop-2"
    assert trust.verify(SECRET, value, "GET", "/catalog/v1/titles/8?x=1", NOW) is None
    assert trust.verify(SECRET, value, "POST", "/catalog/v1/titles/7?x=1", NOW) is None
    assert (
        trust.verify("another-secret-entirely", value, "GET", "/catalog/v1/titles/7?x=1", NOW)
        is None
    )


@pytest.mark.parametrize("skew", [-trust.MAX_SKEW_S - 1, trust.MAX_SKEW_S + 1])
def test_an_old_or_future_signature_is_refused(skew: float) -> None:
    value = trust.sign(SECRET, "GET", "/a", "pop-2", NOW)
    assert trust.verify(SECRET, value, "GET", "/a", NOW + skew) is None


@pytest.mark.parametrize(
    "value",
    [None, "", SECRET, "dev-tier-secret", "v1:pop-2:1800000000:", "v1::1800000000:ab",
     "v1:pop-2:²:ab", "v2:pop-2:1800000000:ab", "v1:pop-2:1800000000:" + "0" * 64],
)  # fmt: skip
def test_what_a_client_can_send_is_no_signature(value: str | None) -> None:
    assert trust.verify(SECRET, value, "GET", "/a", NOW) is None


def test_an_empty_secret_trusts_nobody() -> None:
    assert trust.verify("", trust.sign("", "GET", "/a", "p", NOW), "GET", "/a", NOW) is None


@pytest.mark.parametrize(
    "name",
    ["x-edge-tier-secret", "X-Edge-Tier-Auth", "x-dispatch-forwarded", "x-forwarded-prefix",
     "x-forwarded-for", "X-Forwarded-Host", "forwarded", "cf-connecting-ip", "x-real-ip"],
)  # fmt: skip
def test_internal_headers(name: str) -> None:
    assert trust.is_internal(name)
    assert trust.without_internal([(name, "1"), ("accept", "*/*")]) == [("accept", "*/*")]


@pytest.mark.parametrize("name", ["authorization", "x-request-id", "x-client-region", "cookie"])
def test_client_headers_are_kept(name: str) -> None:
    assert not trust.is_internal(name)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "EDGE_TIER_SECRET"),
        ({"tier_secret": "", "admin_token": "x" * 32}, "EDGE_TIER_SECRET"),
        ({"tier_secret": "dev-tier-secret", "admin_token": "x" * 32}, "EDGE_TIER_SECRET"),
        ({"tier_secret": "x" * 32, "admin_token": "dev-edge-admin-token"}, "EDGE_ADMIN_TOKEN"),
        ({"tier_secret": "x" * 32, "admin_token": "short"}, "EDGE_ADMIN_TOKEN"),
    ],
)
def test_production_refuses_to_start_with_a_default_or_empty_secret(
    env: dict[str, Any], variable: str
) -> None:
    with pytest.raises(ValidationError, match=variable) as refused:
        EdgeSettings(environment="production", **env)
    assert "dev-" not in str(refused.value)  # the error never echoes what was given


def test_production_refuses_through_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_ENVIRONMENT", "production")
    monkeypatch.setenv("EDGE_TIER_SECRET", "dev-tier-secret")
    monkeypatch.setenv("EDGE_ADMIN_TOKEN", "y" * 32)
    with pytest.raises(ValidationError, match="EDGE_TIER_SECRET"):
        EdgeSettings()


def test_production_starts_with_real_secrets() -> None:
    settings = EdgeSettings(environment="production", tier_secret="x" * 32, admin_token="y" * 32)
    assert (settings.tier_secret, settings.admin_token) == ("x" * 32, "y" * 32)


def test_development_without_secrets_gets_random_ones() -> None:
    first, second = EdgeSettings(), EdgeSettings()
    assert len(first.admin_token) >= 16 and len(first.tier_secret) >= 16
    assert first.admin_token != second.admin_token
    assert first.tier_secret != second.tier_secret
    assert first.admin_token not in {"dev-edge-admin-token", ""}
