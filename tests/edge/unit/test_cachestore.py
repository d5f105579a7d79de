from edge.domain.cachestore import ResponseCache
from edge.domain.freshness import store


def entry(body: bytes, vary_value: str | None = None):  # type: ignore[no-untyped-def]
    headers = [("Cache-Control", "max-age=60")]
    request = []
    if vary_value is not None:
        headers.append(("Vary", "Accept-Language"))
        request.append(("Accept-Language", vary_value))
    return store(200, request, headers, body, 0.0)


def test_least_recently_used_goes_first_and_bytes_stay_bounded() -> None:
    size = entry(b"x" * 1000).size
    cache = ResponseCache(max_bytes=size * 3, max_object_bytes=size * 3)
    for name in ("/a", "/b", "/c"):
        assert cache.put(name, entry(b"x" * 1000))
    assert cache.lookup("/a", []) is not None  # /a is now the most recently used
    cache.put("/d", entry(b"x" * 1000))
    assert cache.lookup("/b", []) is None
    assert all(cache.lookup(name, []) is not None for name in ("/a", "/c", "/d"))
    assert cache.stats.bytes <= cache.max_bytes
    assert cache.stats.evictions == 1


def test_objects_over_the_object_limit_are_not_stored() -> None:
    cache = ResponseCache(max_bytes=10_000, max_object_bytes=500)
    assert not cache.put("/big", entry(b"x" * 1000))
    assert cache.lookup("/big", []) is None
    assert cache.stats.entries == 0


def test_variants_live_side_by_side_and_replace_themselves() -> None:
    cache = ResponseCache(max_bytes=100_000, max_object_bytes=100_000)
    cache.put("/t", entry(b"en", "en"))
    cache.put("/t", entry(b"fr", "fr"))
    cache.put("/t", entry(b"en2", "en"))
    assert cache.lookup("/t", [("Accept-Language", "en")]).body == b"en2"  # type: ignore[union-attr]
    assert cache.lookup("/t", [("Accept-Language", "fr")]).body == b"fr"  # type: ignore[union-attr]
    assert cache.lookup("/t", [("Accept-Language", "de")]) is None
    assert cache.stats.entries == 2
    assert cache.vary_names("/t") == ["accept-language"]


def test_purge_by_url_and_by_prefix() -> None:
    cache = ResponseCache(max_bytes=100_000, max_object_bytes=100_000)
    for name in ("/catalog/v1/titles/1", "/catalog/v1/titles/2", "/dispatch/x"):
        cache.put(name, entry(b"x"))
    assert cache.purge(urls=["/dispatch/x"]) == 1
    assert cache.purge(prefixes=["/catalog/v1/titles/"]) == 2
    assert cache.stats.entries == 0
    assert cache.stats.bytes == 0
    assert cache.stats.purged == 3
