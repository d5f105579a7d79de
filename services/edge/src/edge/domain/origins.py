"""Which instance of a route's origins a PoP tries first. Pure: no I/O.

A route lists every instance of its service (``dispatch`` and ``dispatch-2``). Requests rotate
over the instances believed healthy; an instance is believed down after an active probe fails or
a connection to it is refused (passive marking), and is re-admitted by the next probe that
succeeds. Down instances are still tried, last: when every instance looks down, trying them is
better than refusing the request on a possibly stale belief.
"""

import itertools
from dataclasses import dataclass


@dataclass
class OriginState:
    healthy: bool = True
    since: float = 0.0
    failures: int = 0


class OriginHealth:
    """Health beliefs per origin URL, shared by every route that lists the origin."""

    def __init__(self) -> None:
        self._states: dict[str, OriginState] = {}
        self._counters: dict[tuple[str, ...], itertools.count[int]] = {}

    def is_healthy(self, origin: str) -> bool:
        state = self._states.get(origin)
        return state is None or state.healthy

    def mark(self, origin: str, healthy: bool, now: float) -> bool:
        """Records a probe result or a passive failure; True when the belief changed (the
        caller logs state changes only, not every probe)."""
        state = self._states.setdefault(origin, OriginState(since=now))
        if not healthy:
            state.failures += 1
        if state.healthy == healthy:
            return False
        state.healthy, state.since = healthy, now
        return True

    def order(self, origins: tuple[str, ...]) -> list[str]:
        """Every origin once: the healthy ones first, rotated round robin so load spreads, then
        the ones believed down (in their listed order)."""
        if len(origins) == 1:
            return list(origins)
        start = next(self._counters.setdefault(origins, itertools.count())) % len(origins)
        rotated = origins[start:] + origins[:start]
        return [o for o in rotated if self.is_healthy(o)] + [
            o for o in origins if not self.is_healthy(o)
        ]

    def forget_except(self, origins: set[str]) -> None:
        """Drops beliefs about origins no route lists any more (routes change at run time)."""
        for origin in set(self._states) - origins:
            del self._states[origin]
        for key in [key for key in self._counters if not set(key) <= origins]:
            del self._counters[key]

    def snapshot(self) -> dict[str, bool]:
        return {origin: state.healthy for origin, state in self._states.items()}


def parse_origins(value: str) -> tuple[str, ...]:
    """``"http://a:1, http://b:2"`` -> ``("http://a:1", "http://b:2")``: a route's instances."""
    return tuple(url.strip() for url in value.split(",") if url.strip())
