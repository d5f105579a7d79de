"""How many frames one socket may send: a token bucket, with debt.

Tokens refill at ``rate_per_s`` up to ``capacity`` (the burst); each frame takes one. A frame
finding the bucket empty is refused and still costs a token, so a client that keeps sending
while refused stays refused instead of slipping a frame through at every refill; once it owes
more than ``debt_limit`` it is hung up on. Pure: the caller passes the time, from a monotonic
clock.
"""

import enum
from dataclasses import dataclass


class Admission(enum.Enum):
    ADMITTED = "admitted"
    REFUSED = "refused"
    """Answer with an error; the connection stays."""
    HANG_UP = "hang_up"
    """Refused, and the client is flooding: close the connection."""


@dataclass
class TokenBucket:
    rate_per_s: float
    capacity: float
    debt_limit: float
    tokens: float
    updated_at: float

    @classmethod
    def for_rate(cls, rate_per_s: float, now: float) -> "TokenBucket":
        """Full at first, bursts of twice the rate, hung up on after five seconds' worth of
        refused frames."""
        return cls(rate_per_s=rate_per_s, capacity=rate_per_s * 2, debt_limit=rate_per_s * 5,
                   tokens=rate_per_s * 2, updated_at=now)  # fmt: skip

    def take(self, now: float) -> Admission:
        """One frame arrived at ``now``."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated_at) * self.rate_per_s)
        self.updated_at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return Admission.ADMITTED
        flooding = self.tokens < -self.debt_limit
        self.tokens -= 1
        return Admission.HANG_UP if flooding else Admission.REFUSED
