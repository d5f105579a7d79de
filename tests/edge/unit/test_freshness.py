"""RFC 9111 decisions, one rule per test."""

import pytest

from edge.domain.freshness import (
    CacheControl,
    Freshness,
    StoredResponse,
    freshened,
    freshness,
    freshness_lifetime,
    is_storable,
    matches,
    may_serve_on_error,
    not_modified_for,
    refuses_caching,
    store,
)

DATE = "Wed, 25 Nov 2026 12:00:00 GMT"


def stored(
    cache_control: str,
    *,
    at: float = 0.0,
    extra: list[tuple[str, str]] | None = None,
    request: list[tuple[str, str]] | None = None,
) -> StoredResponse:
    headers = [("Cache-Control", cache_control), ("Date", DATE), *(extra or [])]
    return store(200, request or [], headers, b"body", at)


def test_cache_control_parsing_is_case_insensitive_and_keeps_the_first_value() -> None:
    cc = CacheControl.parse(
        [
            ("cache-control", 'Max-Age=60, private="set-cookie"'),
            ("Cache-Control", "max-age=5, no-transform"),
        ]
    )
    assert cc.seconds("max-age") == 60
    assert cc.directives["private"] == "set-cookie"
    assert cc.has("no-transform")
    assert CacheControl.parse([("Cache-Control", "max-age=abc")]).seconds("max-age") is None


@pytest.mark.parametrize(
    ("request_headers", "response_headers", "status", "expected"),
    [
        ([], [("Cache-Control", "max-age=60")], 200, True),
        ([], [("Cache-Control", "s-maxage=60")], 404, True),
        ([], [("Cache-Control", "no-store")], 200, False),
        ([("Cache-Control", "no-store")], [("Cache-Control", "max-age=60")], 200, False),
        ([], [("Cache-Control", "private, max-age=60")], 200, False),
        ([], [("Cache-Control", "max-age=60"), ("Set-Cookie", "a=1")], 200, False),
        ([], [("Cache-Control", "max-age=60"), ("Vary", "*")], 200, False),
        ([("Authorization", "Bearer x")], [("Cache-Control", "max-age=60")], 200, False),
        ([("Authorization", "Bearer x")], [("Cache-Control", "public, max-age=60")], 200, True),
        ([("Authorization", "Bearer x")], [("Cache-Control", "s-maxage=60")], 200, True),
        ([], [], 200, False),
        ([], [("ETag", '"a"')], 200, True),
        ([], [("ETag", '"a"')], 201, False),
        ([], [("Cache-Control", "max-age=60")], 500, False),
        ([], [("Cache-Control", "max-age=60")], 206, False),
    ],
)
def test_what_a_shared_cache_may_store(request_headers, response_headers, status, expected) -> None:  # type: ignore[no-untyped-def]
    assert is_storable("GET", status, request_headers, response_headers) is expected


def test_only_gets_are_stored() -> None:
    assert not is_storable("POST", 200, [], [("Cache-Control", "max-age=60")])


def test_refusal_is_told_apart_from_silence() -> None:
    assert refuses_caching([("Cache-Control", "no-store")])
    assert refuses_caching([("Set-Cookie", "a=1")])
    assert not refuses_caching([("Content-Type", "text/plain")])


def test_lifetime_prefers_s_maxage_then_max_age_then_expires_then_heuristic() -> None:
    assert freshness_lifetime([("Cache-Control", "max-age=10, s-maxage=20")]) == 20
    assert freshness_lifetime([("Cache-Control", "max-age=10")]) == 10
    expires = [("Date", DATE), ("Expires", "Wed, 25 Nov 2026 12:01:00 GMT")]
    assert freshness_lifetime(expires) == 60
    assert freshness_lifetime([("Date", DATE), ("Expires", "0")]) == 0
    heuristic = [("Date", DATE), ("Last-Modified", "Wed, 25 Nov 2026 02:00:00 GMT")]
    assert freshness_lifetime(heuristic) == pytest.approx(3600)
    assert freshness_lifetime([("Cache-Control", "max-age=10")], override_s=99) == 99


def test_fresh_then_stale_while_revalidate_then_must_revalidate() -> None:
    entry = stored("max-age=10, stale-while-revalidate=5")
    assert freshness(entry, [], now=9.9) is Freshness.FRESH
    assert freshness(entry, [], now=12) is Freshness.STALE_WHILE_REVALIDATE
    assert freshness(entry, [], now=15.1) is Freshness.MUST_REVALIDATE


def test_age_from_upstream_counts() -> None:
    entry = stored("max-age=10", extra=[("Age", "8")])
    assert freshness(entry, [], now=1) is Freshness.FRESH
    assert freshness(entry, [], now=2.5) is Freshness.MUST_REVALIDATE


def test_request_directives_force_revalidation() -> None:
    entry = stored("max-age=100")
    assert freshness(entry, [("Cache-Control", "no-cache")], now=1) is Freshness.MUST_REVALIDATE
    assert freshness(entry, [("Cache-Control", "max-age=0")], now=1) is Freshness.MUST_REVALIDATE
    assert freshness(entry, [("Cache-Control", "max-age=50")], now=1) is Freshness.FRESH


def test_response_no_cache_and_must_revalidate_never_serve_stale() -> None:
    assert freshness(stored("no-cache, max-age=100"), [], now=1) is Freshness.MUST_REVALIDATE
    strict = stored("max-age=1, must-revalidate, stale-while-revalidate=60, stale-if-error=60")
    assert freshness(strict, [], now=2) is Freshness.MUST_REVALIDATE
    assert not may_serve_on_error(strict, [], now=2)


def test_stale_if_error_window_from_the_response_or_the_request() -> None:
    entry = stored("max-age=1, stale-if-error=10")
    assert may_serve_on_error(entry, [], now=10)
    assert not may_serve_on_error(entry, [], now=12)
    plain = stored("max-age=1")
    assert not may_serve_on_error(plain, [], now=5)
    assert may_serve_on_error(plain, [("Cache-Control", "stale-if-error=60")], now=5)


def test_vary_keeps_the_requests_values() -> None:
    entry = store(
        200,
        [("Accept-Language", "en")],
        [("Cache-Control", "max-age=60"), ("Vary", "Accept-Language")],
        b"en",
        0,
    )
    assert entry.vary == {"accept-language": "en"}
    assert matches(entry, [("accept-language", "EN")])
    assert not matches(entry, [("Accept-Language", "fr")])
    assert not matches(entry, [])


def test_a_304_freshens_headers_and_restarts_the_age() -> None:
    entry = stored("max-age=10", extra=[("ETag", '"v1"'), ("X-Old", "1")])
    renewed = freshened(
        entry, [("Cache-Control", "max-age=20"), ("ETag", '"v1"'), ("Content-Length", "0")], now=50
    )
    assert renewed.body == b"body"
    assert renewed.lifetime == 20
    assert freshness(renewed, [], now=60) is Freshness.FRESH
    assert ("X-Old", "1") in renewed.headers
    assert ("Content-Length", "0") not in renewed.headers


def test_validators_for_revalidation() -> None:
    entry = stored("max-age=0", extra=[("ETag", '"v1"'), ("Last-Modified", DATE)])
    assert entry.validators() == [("if-none-match", '"v1"'), ("if-modified-since", DATE)]


@pytest.mark.parametrize(
    ("request_headers", "expected"),
    [
        ([("If-None-Match", '"v1"')], True),
        ([("If-None-Match", 'W/"v1"')], True),
        ([("If-None-Match", '"v0", "v1"')], True),
        ([("If-None-Match", "*")], True),
        ([("If-None-Match", '"v2"')], False),
        ([("If-Modified-Since", DATE)], True),
        ([("If-Modified-Since", "Wed, 25 Nov 2026 11:00:00 GMT")], False),
        ([], False),
    ],
)
def test_client_conditionals(request_headers, expected) -> None:  # type: ignore[no-untyped-def]
    entry = stored("max-age=60", extra=[("ETag", '"v1"'), ("Last-Modified", DATE)])
    assert not_modified_for(entry, request_headers) is expected
