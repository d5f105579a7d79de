"""Which dispatch worker owns an area: consistent hashing over the live workers (Ringpop's
idea). Areas are coarse H3 cells; adding or removing a worker moves only about 1/N of them."""

import bisect
import hashlib
from collections.abc import Iterable, Iterator
from enum import StrEnum

import h3

from dispatch.domain.geo import Point

AREA_RESOLUTION = 6  # about 36 km² a cell: a district
VIRTUAL_NODES = 64


def area_of(point: Point) -> str:
    return str(h3.latlng_to_cell(point.lat, point.lng, AREA_RESOLUTION))


def _hash(value: str) -> int:
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "big")


class HashRing:
    """Each member is placed at ``VIRTUAL_NODES`` points; a key belongs to the next point."""

    def __init__(self, members: Iterable[str], virtual_nodes: int = VIRTUAL_NODES) -> None:
        self.members = frozenset(members)
        points = sorted(
            (_hash(f"{member}#{i}"), member)
            for member in self.members
            for i in range(virtual_nodes)
        )
        self._hashes = [h for h, _ in points]
        self._owners = [m for _, m in points]

    def owner(self, key: str) -> str:
        if not self._hashes:
            raise LookupError("no live members on the ring")
        index = bisect.bisect(self._hashes, _hash(key)) % len(self._hashes)
        return self._owners[index]

    def arcs_of(self, member: str) -> frozenset[tuple[int, int]]:
        """The hash ranges ``[start, end)`` whose keys ``member`` owns, adjacent points merged
        (so two rings give the same arcs exactly when the member owns the same areas); the whole
        ring is ``(0, 0)``. A range may wrap past the largest hash."""
        owners, hashes = self._owners, self._hashes
        if member not in self.members:
            return frozenset()
        if len(self.members) == 1:
            return frozenset({(0, 0)})
        # Point i owns [hashes[i-1], hashes[i]). Walk from just after a point of another member,
        # so no run of the member's points is cut by the walk's start.
        first = next(i for i, m in enumerate(owners) if m != member) + 1
        arcs: set[tuple[int, int]] = set()
        start: int | None = None
        for step in range(len(owners)):
            i = (first + step) % len(owners)
            if owners[i] == member:
                start = hashes[i - 1] if start is None else start
            elif start is not None:
                arcs.add((start, hashes[i - 1]))
                start = None
        return frozenset(arcs)  # the walk ends on another member's point: no run left open


class RingChange(StrEnum):
    """Why the ring's membership changed, as the heartbeats show it."""

    JOINED = "joined"
    """A worker's heartbeat appeared."""
    LEFT = "left"
    """A worker took itself off the ring (a graceful stop)."""
    EXPIRED = "expired"
    """A worker's heartbeat went silent past the time to live (it died or hangs)."""


def ownership_changes(
    before: frozenset[str],
    after: frozenset[str],
    expired: frozenset[str],
    worker_id: str,
    virtual_nodes: int = VIRTUAL_NODES,
) -> Iterator[RingChange]:
    """The membership changes from ring ``before`` to ring ``after`` that move areas to or from
    ``worker_id``: departures (``expired`` says which went silent rather than left), then
    arrivals, this worker's own last, each applied to the ring in turn. So a worker's first ring
    is one ``joined`` (its own arrival), whoever else was there already."""
    departures = [
        (m, RingChange.EXPIRED if m in expired else RingChange.LEFT) for m in sorted(before - after)
    ]
    arrivals = sorted(after - before, key=lambda m: (m == worker_id, m))
    members = set(before)
    owned = HashRing(members, virtual_nodes).arcs_of(worker_id)
    for member, change in [*departures, *((m, RingChange.JOINED) for m in arrivals)]:
        if change is RingChange.JOINED:
            members.add(member)
        else:
            members.discard(member)
        now = HashRing(members, virtual_nodes).arcs_of(worker_id)
        if now != owned:
            yield change
        owned = now


def decides_here(owner: str, worker_id: str, *, forwarded: bool) -> bool:
    """Whether the worker ``worker_id`` decides a request for an area ``owner`` owns: when it
    owns the area, or when another worker forwarded the request to it. A request is forwarded
    once at most: two workers that disagree about the ring for a moment would otherwise pass
    it back and forth."""
    return owner == worker_id or forwarded
