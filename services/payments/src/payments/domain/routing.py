"""Multi-acquirer routing and smart retries.

Routing sends each authorization to the acquirer with the best recent authorization rate for
the card's (brand, region), exploring another one now and then so a recovering acquirer is
noticed. Smart retries send soft declines and timeouts to an acquirer not yet tried, within a
bounded budget; hard declines (the cardholder's problem) are never retried.

Both decisions can be turned off at run time to measure them (``payments.routing``,
``payments.smartRetries``): :attr:`Routing.SINGLE_ACQUIRER` takes the acquirers in their
configured order, the first for every payment, whatever the rates say.
"""

import random
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from payments.domain.cards import SOFT_DECLINES


@dataclass
class AuthorizationStats:
    """The last ``window`` outcomes per (acquirer, brand, region)."""

    window: int = 200
    _outcomes: dict[tuple[str, str, str], deque[bool]] = field(
        default_factory=lambda: defaultdict(deque)
    )

    def record(self, acquirer: str, brand: str, region: str, approved: bool) -> None:
        outcomes = self._outcomes[(acquirer, brand, region)]
        outcomes.append(approved)
        if len(outcomes) > self.window:
            outcomes.popleft()

    def rate(self, acquirer: str, brand: str, region: str) -> float:
        """Approval rate with a uniform prior, so an unseen acquirer starts at 0.5."""
        outcomes = self._outcomes.get((acquirer, brand, region), ())
        return (sum(outcomes) + 1) / (len(outcomes) + 2)


class Routing(StrEnum):
    BEST_RATE = "best_rate"
    SINGLE_ACQUIRER = "single_acquirer"


def choose_acquirer(
    acquirers: Sequence[str],
    stats: AuthorizationStats,
    brand: str,
    region: str,
    rng: random.Random,
    *,
    exploration: float = 0.1,
    exclude: frozenset[str] = frozenset(),
    routing: Routing = Routing.BEST_RATE,
) -> str | None:
    """The acquirer for the next attempt, or ``None`` when every one was tried."""
    candidates = [name for name in acquirers if name not in exclude]
    if not candidates:
        return None
    if routing is Routing.SINGLE_ACQUIRER:
        return candidates[0]
    if len(candidates) > 1 and rng.random() < exploration:
        return rng.choice(candidates)
    return max(
        candidates, key=lambda name: (stats.rate(name, brand, region), -acquirers.index(name))
    )


class AttemptResult(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    TIMED_OUT = "timed_out"  # no answer: reconcile before deciding
    UNREACHED = "unreached"  # the acquirer confirms it never saw the attempt


@dataclass(frozen=True)
class Attempt:
    acquirer: str
    result: AttemptResult
    decline_code: str | None = None


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3

    def should_retry(self, attempts: Sequence[Attempt]) -> bool:
        if not attempts or len(attempts) >= self.max_attempts:
            return False
        last = attempts[-1]
        if last.result in (AttemptResult.TIMED_OUT, AttemptResult.UNREACHED):
            return True
        return last.result == AttemptResult.DECLINED and last.decline_code in SOFT_DECLINES
