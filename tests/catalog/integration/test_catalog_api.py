"""The catalog through the edge: titles read through the zoned cache from the CQL server,
viewing history as newest-first bounded wide rows."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from devstack.stack import NativeStack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def catalog(native_stack: NativeStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{native_stack.edge_url}/catalog", timeout=30) as client:
        yield client


def cache_lookups(client: httpx.Client, result: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'cache_lookups_total{{result="{result}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_titles_are_read_through_the_cache_and_invalidated_on_write(catalog: httpx.Client) -> None:
    title_id = f"t-{uuid.uuid4().hex[:8]}"
    body = {
        "name": "Stranger Rows",
        "genres": ["sci-fi", "drama"],
        "year": 2016,
        "duration_s": 3000,
    }
    created = catalog.put(f"/v1/titles/{title_id}", json=body)
    assert created.status_code == 200, created.text
    misses, hits = cache_lookups(catalog, "miss"), cache_lookups(catalog, "hit")
    first = catalog.get(f"/v1/titles/{title_id}")
    assert first.status_code == 200 and first.json()["genres"] == ["drama", "sci-fi"]
    assert catalog.get(f"/v1/titles/{title_id}").json() == first.json()
    assert (
        cache_lookups(catalog, "miss") == misses + 1 and cache_lookups(catalog, "hit") == hits + 1
    )
    catalog.put(f"/v1/titles/{title_id}", json={**body, "name": "Stranger Rows 2"})
    assert catalog.get(f"/v1/titles/{title_id}").json()["name"] == "Stranger Rows 2"


def test_history_is_newest_first_and_bounded(catalog: httpx.Client) -> None:
    profile = f"p-{uuid.uuid4().hex[:8]}"
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for minute in (3, 1, 4, 0, 2):
        at = (start + timedelta(minutes=minute)).isoformat()
        response = catalog.post(
            f"/v1/profiles/{profile}/history",
            json={"title_id": f"t{minute}", "position_s": 60, "watched_at": at},
        )
        assert response.status_code == 200, response.text
    newest = catalog.get(f"/v1/profiles/{profile}/history", params={"limit": 3}).json()
    assert [entry["title_id"] for entry in newest] == ["t4", "t3", "t2"]
    assert len(catalog.get(f"/v1/profiles/{profile}/history").json()) == 5


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/v1/titles/nope-does-not-exist", None),
        ("put", "/v1/titles/t1", {"name": "", "year": 2000, "duration_s": 10}),
        ("put", "/v1/titles/t1", {"name": "x", "year": 3000, "duration_s": 10}),
        ("post", "/v1/profiles/p1/history", {"title_id": "bad id!", "position_s": 1}),
        ("post", "/v1/profiles/p1/history", {"title_id": "t1", "position_s": -1}),
        ("get", "/v1/profiles/p1/history?limit=0", None),
    ],
)
def test_bad_input_is_a_4xx(catalog: httpx.Client, method: str, path: str, body: object) -> None:
    response = catalog.request(method.upper(), path, json=body)
    assert 400 <= response.status_code < 500, response.text
