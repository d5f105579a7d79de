"""A circuit breaker for a PoP's upper tier. Pure: no I/O, the caller passes the time.

Closed: requests go to the upper tier. After ``failure_threshold`` consecutive failures the
breaker opens: requests skip the upper tier (the lower PoP goes to the origin itself) until a
backoff passes. Then it is half-open: one request probes the upper tier while the others keep
skipping it; a success closes the breaker, a failure opens it again with the backoff doubled (up
to ``max_backoff_s``). Without this a lower tier asked a dead upper tier on every miss and
logged a warning each time.
"""

from dataclasses import dataclass
from enum import Enum


class BreakerState(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class CircuitBreaker:
    failure_threshold: int = 3
    base_backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    backoff_s: float = 0.0
    retry_at: float = 0.0
    probing: bool = False
    """Half-open: a probe request is out; the others do not pile onto the upper tier."""

    def allow(self, now: float) -> bool:
        """Whether this request may try the upper tier. Past the backoff the first caller
        becomes the half-open probe."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN and now >= self.retry_at:
            self.state, self.probing = BreakerState.HALF_OPEN, False
        if self.state is BreakerState.HALF_OPEN and (not self.probing or now >= self.retry_at):
            # A probe that never reported back (its request was cancelled) does not keep the
            # breaker half-open for ever: another one goes out after the backoff.
            self.probing, self.retry_at = True, now + self.backoff_s
            return True
        return False

    def succeeded(self) -> BreakerState | None:
        """Records a success; returns the new state when it changed."""
        self.failures, self.probing = 0, False
        if self.state is BreakerState.CLOSED:
            return None
        self.state, self.backoff_s = BreakerState.CLOSED, 0.0
        return self.state

    def failed(self, now: float) -> BreakerState | None:
        """Records a failure; returns the new state when it changed (open, or open again after
        a failed probe, which counts as a change: the backoff grew)."""
        self.failures += 1
        self.probing = False
        if self.state is BreakerState.CLOSED and self.failures < self.failure_threshold:
            return None
        if self.state is BreakerState.OPEN:
            return None  # a request that started before the breaker opened
        self.backoff_s = (
            self.base_backoff_s
            if self.state is BreakerState.CLOSED
            else min(self.max_backoff_s, self.backoff_s * 2)
        )
        self.state, self.retry_at = BreakerState.OPEN, now + self.backoff_s
        return self.state
