from hypothesis import given
from hypothesis import strategies as st

from edge.domain.ratelimit import RateLimitRule, SlidingWindowLimiter, check

RULE = RateLimitRule("api", "/payments/", limit=10, period_s=60.0)


def test_up_to_the_limit_then_429_with_a_retry_after() -> None:
    limiter = SlidingWindowLimiter()
    decisions = [limiter.hit(RULE, "c1", 60.0 + i * 0.1) for i in range(11)]
    assert all(d.allowed for d in decisions[:10])
    assert not decisions[10].allowed
    assert decisions[10].rule_id == "api"
    # The current window alone is full: the wait runs into the next window.
    assert 59 <= decisions[10].retry_after_s <= 120


def test_the_previous_window_counts_by_its_overlap() -> None:
    limiter = SlidingWindowLimiter()
    for _ in range(10):
        assert limiter.hit(RULE, "c1", 59.0).allowed  # window 0, at its end
    # 15 s into the next window, 75% of the previous window still counts: 7.5 of 10.
    allowed = sum(limiter.hit(RULE, "c1", 75.0).allowed for _ in range(5))
    assert allowed == 2
    refused = limiter.hit(RULE, "c1", 75.0)
    assert not refused.allowed
    # 7.5 + 2 counted; one more fits once the previous window weighs 7: 30% in, 3 s from now.
    assert refused.retry_after_s == 3


def test_keys_and_rules_count_separately() -> None:
    limiter = SlidingWindowLimiter()
    for _ in range(10):
        limiter.hit(RULE, "c1", 1.0)
    assert not limiter.hit(RULE, "c1", 1.0).allowed
    assert limiter.hit(RULE, "c2", 1.0).allowed
    other = RateLimitRule("other", "/payments/", limit=10, period_s=60.0)
    assert limiter.hit(other, "c1", 1.0).allowed


def test_check_applies_matching_rules_by_prefix_and_method() -> None:
    writes = RateLimitRule(
        "writes",
        "/payments/",
        limit=1,
        period_s=60.0,
        methods=frozenset({"POST"}),
        key_header="x-api-key",
    )
    limiter = SlidingWindowLimiter()
    keys = {"writes": "k1"}

    def key(rule: RateLimitRule) -> str:
        return keys[rule.id]

    assert check(limiter, (writes,), "POST", "/payments/v1/x", key, 1.0).allowed
    assert not check(limiter, (writes,), "POST", "/payments/v1/x", key, 1.0).allowed
    assert check(limiter, (writes,), "GET", "/payments/v1/x", key, 1.0).allowed
    assert check(limiter, (writes,), "POST", "/catalog/v1/x", key, 1.0).allowed


def test_old_keys_are_forgotten_beyond_the_bound() -> None:
    limiter = SlidingWindowLimiter(max_keys=2)
    for client in ("a", "b", "c"):
        limiter.hit(RULE, client, 1.0)
    assert len(limiter._counters) == 2


@given(st.lists(st.floats(min_value=0, max_value=600, allow_nan=False), max_size=200))
def test_never_more_than_the_limit_in_any_one_fixed_window(times: list[float]) -> None:
    limiter = SlidingWindowLimiter()
    allowed_by_window: dict[int, int] = {}
    for at in sorted(times):
        if limiter.hit(RULE, "c", at).allowed:
            window = int(at // RULE.period_s)
            allowed_by_window[window] = allowed_by_window.get(window, 0) + 1
    assert all(count <= RULE.limit for count in allowed_by_window.values())


@given(st.lists(st.floats(min_value=0, max_value=600, allow_nan=False), min_size=1, max_size=200))
def test_a_refusal_tells_a_wait_after_which_one_request_fits(times: list[float]) -> None:
    limiter = SlidingWindowLimiter()
    for at in sorted(times):
        decision = limiter.hit(RULE, "c", at)
        if not decision.allowed:
            probe = SlidingWindowLimiter()
            probe._counters = dict(limiter._counters)
            assert probe.hit(RULE, "c", at + decision.retry_after_s + 1e-6).allowed
            return
