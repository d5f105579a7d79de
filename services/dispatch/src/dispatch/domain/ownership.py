"""Which dispatch worker owns an area: consistent hashing over the live workers (Ringpop's
idea). Areas are coarse H3 cells; adding or removing a worker moves only about 1/N of them."""

import bisect
import hashlib
from collections.abc import Iterable

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


def decides_here(owner: str, worker_id: str, *, forwarded: bool) -> bool:
    """Whether the worker ``worker_id`` decides a request for an area ``owner`` owns: when it
    owns the area, or when another worker forwarded the request to it. A request is forwarded
    once at most: two workers that disagree about the ring for a moment would otherwise pass
    it back and forth."""
    return owner == worker_id or forwarded
