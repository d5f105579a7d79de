from edge.domain.breaker import BreakerState, CircuitBreaker


def test_stays_closed_below_the_threshold_and_a_success_resets_the_count() -> None:
    breaker = CircuitBreaker(failure_threshold=3)
    assert [breaker.failed(0.0), breaker.failed(0.0)] == [None, None]
    assert breaker.succeeded() is None
    assert [breaker.failed(0.0), breaker.failed(0.0)] == [None, None]
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow(0.0)


def test_opens_at_the_threshold_and_skips_the_upper_tier_until_the_backoff() -> None:
    breaker = CircuitBreaker(failure_threshold=2, base_backoff_s=1.0)
    breaker.failed(10.0)
    assert breaker.failed(10.0) is BreakerState.OPEN
    assert not breaker.allow(10.5)
    assert breaker.failed(10.6) is None  # a request from before it opened: no second change


def test_half_open_sends_one_probe_and_closes_on_its_success() -> None:
    breaker = CircuitBreaker(failure_threshold=1, base_backoff_s=1.0)
    breaker.failed(0.0)
    assert breaker.allow(1.0)  # the probe
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow(1.0)  # the others keep going to the origin
    assert breaker.succeeded() is BreakerState.CLOSED
    assert breaker.allow(1.1) and breaker.allow(1.1)


def test_a_failed_probe_reopens_with_the_backoff_doubled_up_to_the_cap() -> None:
    breaker = CircuitBreaker(failure_threshold=1, base_backoff_s=1.0, max_backoff_s=3.0)
    now = 0.0
    breaker.failed(now)
    backoffs = []
    for _ in range(4):
        now += breaker.backoff_s
        assert breaker.allow(now)
        assert breaker.failed(now) is BreakerState.OPEN
        backoffs.append(breaker.backoff_s)
    assert backoffs == [2.0, 3.0, 3.0, 3.0]
    assert not breaker.allow(now + 2.9)


def test_a_probe_that_never_reports_back_does_not_hold_it_half_open() -> None:
    breaker = CircuitBreaker(failure_threshold=1, base_backoff_s=1.0)
    breaker.failed(0.0)
    assert breaker.allow(1.0)  # this probe is cancelled and never reports
    assert not breaker.allow(1.5)
    assert breaker.allow(2.0)
