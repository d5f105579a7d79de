"""The PoP's cache: variants per URL, least recently used evicted first, bounded in bytes."""

from collections import OrderedDict
from dataclasses import dataclass

from edge.domain.freshness import Headers, StoredResponse, matches


@dataclass
class CacheStats:
    entries: int = 0
    bytes: int = 0
    evictions: int = 0
    purged: int = 0


class ResponseCache:
    """Entries are ``(url, variant)``; a URL may have several variants (``Vary``)."""

    def __init__(self, max_bytes: int, max_object_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.max_object_bytes = min(max_object_bytes, max_bytes)
        self._entries: OrderedDict[tuple[str, tuple[tuple[str, str], ...]], StoredResponse] = (
            OrderedDict()
        )
        self._variants: dict[str, list[tuple[tuple[str, str], ...]]] = {}
        self.stats = CacheStats()

    def lookup(self, url: str, request_headers: Headers) -> StoredResponse | None:
        for variant in self._variants.get(url, ()):
            entry = self._entries[(url, variant)]
            if matches(entry, request_headers):
                self._entries.move_to_end((url, variant))
                return entry
        return None

    def vary_names(self, url: str) -> list[str]:
        """The headers the URL's newest variant varies on (what concurrent misses group by)."""
        variants = self._variants.get(url)
        return [name for name, _ in variants[0]] if variants else []

    def put(self, url: str, entry: StoredResponse) -> bool:
        """Stores (replacing the same variant); False if the object is too big to cache."""
        if entry.size > self.max_object_bytes:
            return False
        variant = tuple(sorted(entry.vary.items()))
        self._remove((url, variant))
        self._entries[(url, variant)] = entry
        self._variants.setdefault(url, []).insert(0, variant)
        self.stats.bytes += entry.size
        self.stats.entries += 1
        while self.stats.bytes > self.max_bytes:
            self._remove(next(iter(self._entries)))
            self.stats.evictions += 1
        return True

    def purge(self, *, urls: list[str] | None = None, prefixes: list[str] | None = None) -> int:
        doomed = [
            key
            for key in self._entries
            if key[0] in (urls or ()) or any(key[0].startswith(p) for p in prefixes or ())
        ]
        for key in doomed:
            self._remove(key)
        self.stats.purged += len(doomed)
        return len(doomed)

    def _remove(self, key: tuple[str, tuple[tuple[str, str], ...]]) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self.stats.bytes -= entry.size
        self.stats.entries -= 1
        variants = self._variants[key[0]]
        variants.remove(key[1])
        if not variants:
            del self._variants[key[0]]
