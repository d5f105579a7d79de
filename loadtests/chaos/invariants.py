"""What must hold however the chaos monkey strikes: pure checks over what the checkers observed.

Each check takes plain observations and returns its violations (empty means it held), each a
sentence a person can act on. The checkers (``loadtests.chaos.checkers``) collect the
observations from the running stack.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from loadtests.chaos.schedule import inside


@dataclass
class Verdict:
    name: str
    claim: str
    checked: int
    """How many things were checked (messages, payments, trips, samples): 0 proves nothing."""
    violations: list[str] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return self.checked > 0 and not self.violations


def chat_sequences(received: Mapping[str, Sequence[int]], posted: Sequence[int]) -> list[str]:
    """Every client saw every posted seq exactly once, in order (after its reconnects)."""
    expected = sorted(posted)
    wrong = []
    for client, seqs in sorted(received.items()):
        if list(seqs) == expected:
            continue
        seen = set(seqs)
        missing = [s for s in expected if s not in seen]
        duplicated = sorted({s for s in seqs if list(seqs).count(s) > 1})
        reordered = any(b < a for a, b in pairwise(seqs))
        parts = []
        if missing:
            parts.append(f"missed {_few(missing)}")
        if duplicated:
            parts.append(f"got twice {_few(duplicated)}")
        if reordered:
            parts.append("out of order")
        wrong.append(f"{client}: {', '.join(parts) or 'unexpected seqs'}")
    return wrong


def payments(
    authorizations: Mapping[str, int],
    client_statuses: Mapping[str, str],
    server_statuses: Mapping[str, str],
) -> list[str]:
    """No intent authorized twice (acquirers' counts); none lost: every intent a client saw
    succeed is succeeded on the server, and none the client created is missing there."""
    wrong = [
        f"{intent} authorized {count} times"
        for intent, count in authorizations.items()
        if count > 1
    ]
    for intent, seen in sorted(client_statuses.items()):
        stored = server_statuses.get(intent)
        if stored is None:
            wrong.append(f"{intent} was created ({seen}) and is gone")
        elif seen == "succeeded" and stored != "succeeded":
            wrong.append(f"{intent} succeeded for the client and is {stored} on the server")
        elif stored == "succeeded" and authorizations.get(intent, 0) == 0:
            wrong.append(f"{intent} succeeded with no authorization at any acquirer")
    return wrong


def active_trips(active_by_driver: Mapping[str, int]) -> list[str]:
    """No driver holds two active trips."""
    return [
        f"driver {driver} holds {count} active trips"
        for driver, count in sorted(active_by_driver.items())
        if count > 1
    ]


def config_versions(samples: Mapping[str, Sequence[int]]) -> list[str]:
    """Each PoP's applied config version, sampled over time, never goes back."""
    wrong = []
    for pop, versions in sorted(samples.items()):
        for before, after in pairwise(versions):
            if after < before:
                wrong.append(f"{pop} went from config version {before} back to {after}")
                break
    return wrong


@dataclass(frozen=True)
class Ratio:
    errors: int
    total: int

    @property
    def value(self) -> float:
        return self.errors / self.total if self.total else 0.0


def error_ratio_outside(
    samples: Iterable[tuple[float, bool]], windows: Sequence[tuple[float, float]]
) -> Ratio:
    """The share of failed requests (``(t, failed)``) outside the failover windows."""
    outside = [failed for t, failed in samples if not inside(windows, t)]
    return Ratio(sum(outside), len(outside))


def _few(values: Sequence[int], most: int = 5) -> str:
    shown = ", ".join(str(v) for v in values[:most])
    return f"seq {shown}" + (f" and {len(values) - most} more" if len(values) > most else "")
