"""Cloudflare's sliding-window rate limiting: two fixed-window counters, the previous one
weighted by how much of it the sliding window still covers. Constant memory per client key,
and within a few percent of an exact sliding log (Cloudflare measured 0.003% wrong answers)."""

import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimitRule:
    id: str
    path_prefix: str
    limit: int
    period_s: float
    methods: frozenset[str] = frozenset()
    """Empty: every method."""
    key_header: str | None = None
    """Count per value of this header (an API key); by client address when absent."""

    def applies(self, method: str, path: str) -> bool:
        return path.startswith(self.path_prefix) and (not self.methods or method in self.methods)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule_id: str | None = None
    retry_after_s: int = 0
    remaining: int = 0


class SlidingWindowLimiter:
    """Counts per (rule, client key). Old windows are dropped as clients come back."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._counters: dict[tuple[str, str], tuple[int, int, int]] = {}
        self._max_keys = max_keys

    def hit(self, rule: RateLimitRule, client_key: str, now: float) -> Decision:
        window = int(now // rule.period_s)
        start, previous, current = self._counters.get((rule.id, client_key), (window, 0, 0))
        if window == start + 1:
            previous, current = current, 0
        elif window != start:
            previous, current = 0, 0
        elapsed = (now % rule.period_s) / rule.period_s
        estimate = previous * (1.0 - elapsed) + current
        if estimate + 1 > rule.limit:
            self._store((rule.id, client_key), (window, previous, current))
            return Decision(False, rule.id, self._retry_after(rule, previous, current, elapsed))
        self._store((rule.id, client_key), (window, previous, current + 1))
        return Decision(True, rule.id, remaining=max(0, int(rule.limit - estimate - 1)))

    @staticmethod
    def _retry_after(rule: RateLimitRule, previous: int, current: int, elapsed: float) -> int:
        """Seconds until one more request fits: while the previous window's weight fades, or,
        when the current window alone is full, once the next window has faded it enough."""
        room = rule.limit - current - 1
        if room >= 0 and previous > 0:
            fits_at = 1.0 - room / previous  # the elapsed fraction where the estimate fits
            return max(1, math.ceil((fits_at - elapsed) * rule.period_s - 1e-9))
        fits_at_next = 1.0 - (rule.limit - 1) / current if current else 0.0
        return max(1, math.ceil((1.0 - elapsed + max(0.0, fits_at_next)) * rule.period_s))

    def _store(self, key: tuple[str, str], value: tuple[int, int, int]) -> None:
        if key not in self._counters and len(self._counters) >= self._max_keys:
            self._counters.pop(next(iter(self._counters)))
        self._counters[key] = value


def check(
    limiter: SlidingWindowLimiter,
    rules: tuple[RateLimitRule, ...],
    method: str,
    path: str,
    client_key: Callable[[RateLimitRule], str],
    now: float,
) -> Decision:
    """Every applying rule counts the request; the first one over its limit rejects it."""
    for rule in rules:
        if rule.applies(method, path):
            decision = limiter.hit(rule, client_key(rule), now)
            if not decision.allowed:
                return decision
    return Decision(True)
