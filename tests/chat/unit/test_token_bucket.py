"""The token bucket that admits a socket's frames: bursts, refill, the debt of refused frames,
and the hang-up of a flooding client; and that it decides exactly as the gateway used to."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat.domain.token_bucket import Admission, TokenBucket

ADMITTED, REFUSED, HANG_UP = Admission.ADMITTED, Admission.REFUSED, Admission.HANG_UP


def test_a_new_bucket_is_full_with_twice_the_rate() -> None:
    bucket = TokenBucket.for_rate(10.0, now=100.0)
    assert (bucket.capacity, bucket.tokens, bucket.debt_limit, bucket.updated_at) == (
        20.0, 20.0, 50.0, 100.0)  # fmt: skip


def test_a_burst_of_twice_the_rate_passes_and_the_next_frame_does_not() -> None:
    bucket = TokenBucket.for_rate(10.0, now=0.0)
    assert [bucket.take(0.0) for _ in range(21)] == [ADMITTED] * 20 + [REFUSED]


def test_tokens_come_back_at_the_rate() -> None:
    bucket = TokenBucket.for_rate(4.0, now=0.0)
    for _ in range(8):
        bucket.take(0.0)
    assert bucket.take(0.25) is ADMITTED, "a quarter second at 4/s is one token"
    assert bucket.take(0.25) is REFUSED


def test_an_idle_bucket_fills_up_to_its_capacity_only() -> None:
    bucket = TokenBucket.for_rate(10.0, now=0.0)
    bucket.take(0.0)
    assert bucket.take(3600.0) is ADMITTED
    assert bucket.tokens == 19.0, "full (20) before the frame, however long it idled"


def test_a_client_sending_at_the_rate_after_a_refusal_stays_refused() -> None:
    """A refused frame costs a token too: no frame slips through at each refill."""
    bucket = TokenBucket.for_rate(10.0, now=0.0)
    for _ in range(20):
        bucket.take(0.0)
    assert bucket.take(0.0) is REFUSED
    assert [bucket.take(n / 10) for n in range(1, 30)] == [REFUSED] * 29


def test_a_flood_is_hung_up_on_once_it_owes_more_than_five_seconds_of_frames() -> None:
    bucket = TokenBucket.for_rate(10.0, now=0.0)
    verdicts = [bucket.take(0.0) for _ in range(75)]
    assert verdicts[:20] == [ADMITTED] * 20
    assert verdicts[20:71] == [REFUSED] * 51, "owing 0 to 50 tokens: refused"
    assert verdicts[71:] == [HANG_UP] * 4, "owing more than 50"


def test_a_client_that_stops_is_admitted_again_once_its_debt_is_paid() -> None:
    bucket = TokenBucket.for_rate(10.0, now=0.0)
    for _ in range(30):
        bucket.take(0.0)  # 20 admitted, 10 refused: 10 tokens owed
    assert bucket.take(1.0) is REFUSED, "1 s repaid the 10 owed, no more"
    assert bucket.take(1.5) is ADMITTED


@pytest.mark.parametrize("rate", [0.5, 1.0, 3.0, 20.0])
def test_fractional_and_small_rates(rate: float) -> None:
    bucket = TokenBucket.for_rate(rate, now=0.0)
    burst = [bucket.take(0.0) for _ in range(int(rate * 2) + 1)]
    assert burst.count(ADMITTED) == int(rate * 2)
    assert burst[-1] is not ADMITTED


class _OldGatewayRule:
    """The gateway's rate limit before it was a class (``_flooding`` and ``_on_frame``)."""

    def __init__(self, rate: float, now: float) -> None:
        self.rate, self.allowance, self.allowance_at = rate, rate * 2, now

    def frame(self, now: float) -> Admission:
        self.allowance = min(self.rate * 2,
                             self.allowance + (now - self.allowance_at) * self.rate)  # fmt: skip
        self.allowance_at = now
        if self.allowance >= 1:
            self.allowance -= 1
            return ADMITTED
        verdict = HANG_UP if self.allowance < -self.rate * 5 else REFUSED
        self.allowance -= 1
        return verdict


@given(
    rate=st.floats(min_value=0.1, max_value=1000.0),
    gaps=st.lists(st.floats(min_value=0.0, max_value=5.0), max_size=300),
)
def test_it_decides_every_frame_as_the_gateway_did(rate: float, gaps: list[float]) -> None:
    bucket, old = TokenBucket.for_rate(rate, now=0.0), _OldGatewayRule(rate, now=0.0)
    now = 0.0
    for gap in gaps:
        now += gap
        assert bucket.take(now) is old.frame(now)
        assert bucket.tokens == old.allowance
