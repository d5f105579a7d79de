"""A PoP's request latency by route and cache status on the native stack: a miss and a hit
through one PoP each land in ``edge_request_duration_seconds`` on that PoP's /metrics."""

import uuid
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack.scripted_origin import Script, ScriptedOrigin, scripted_origin
from devstack.stack import NativeStack
from stackkit.metrics import LATENCY_BUCKETS
from tests.edge.e2e.test_edge import pop_url, write_config

pytestmark = pytest.mark.e2e
LATENCY = "edge_request_duration_seconds"


@pytest.fixture(scope="module")
def route(native_stack: NativeStack) -> Iterator[tuple[ScriptedOrigin, str]]:
    prefix = f"m-{uuid.uuid4().hex[:8]}"
    with scripted_origin() as scripted:
        write_config(native_stack, {"set": {f"route:{prefix}": {"origins": [scripted.url]}}})
        yield scripted, prefix
        write_config(native_stack, {"delete": [f"route:{prefix}"]})


def samples(stack: NativeStack, pop: str, name: str, **labels: str) -> dict[str, float]:
    """``name``'s samples on ``pop`` whose labels include ``labels``: sample name (with ``le``
    for buckets) -> value."""
    text = httpx.get(f"{pop_url(stack, pop)}/metrics", timeout=5).text
    return {
        f"{sample.name}{sample.labels.get('le', '')}": sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith(name)
        and all(sample.labels.get(k) == v for k, v in labels.items())
    }


def test_a_miss_and_a_hit_are_timed_by_route_and_cache_status(
    native_stack: NativeStack, route: tuple[ScriptedOrigin, str]
) -> None:
    scripted, prefix = route
    scripted.scripts["/timed"] = Script(b"timed", headers=[("Cache-Control", "max-age=60")])
    url = f"{pop_url(native_stack, 'pop-1')}/{prefix}/timed"
    statuses = [httpx.get(url, timeout=10).headers["cf-cache-status"] for _ in range(3)]
    assert statuses == ["MISS", "HIT", "HIT"]
    miss = samples(native_stack, "pop-1", LATENCY, route=prefix, cache_status="MISS")
    hit = samples(native_stack, "pop-1", LATENCY, route=prefix, cache_status="HIT")
    assert miss[f"{LATENCY}_count"] == 1 and hit[f"{LATENCY}_count"] == 2
    assert hit[f"{LATENCY}_sum"] > 0
    assert hit[f"{LATENCY}_bucket+Inf"] == 2
    assert {key for key in hit if "_bucket" in key} == {
        f"{LATENCY}_bucket{bound}" for bound in [*map(str, LATENCY_BUCKETS), "+Inf"]
    }
    # Another PoP served none of them.
    assert samples(native_stack, "pop-2", LATENCY, route=prefix) == {}
