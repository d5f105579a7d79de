"""``watched_at`` is an RFC 3339 instant with its offset, in and out, on the catalog's own app
and the CQL server (which hands timestamps back without a zone)."""

import uuid
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest

from devstack.stack import NativeStack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def catalog(origins: NativeStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=origins.url("catalog"), timeout=30) as client:
        yield client


def test_history_times_carry_their_utc_offset(catalog: httpx.Client) -> None:
    profile = f"p-{uuid.uuid4().hex[:8]}"
    play = {"title_id": "t1", "position_s": 5, "watched_at": "2026-01-01T22:15:00+02:00"}
    recorded = catalog.post(f"/v1/profiles/{profile}/history", json=play)
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["watched_at"] == "2026-01-01T20:15:00Z"
    now = catalog.post(f"/v1/profiles/{profile}/history", json={"title_id": "t2", "position_s": 1})
    assert datetime.fromisoformat(now.json()["watched_at"]).utcoffset() is not None
    history = catalog.get(f"/v1/profiles/{profile}/history").json()
    assert [entry["watched_at"][-1] for entry in history] == ["Z", "Z"]
    assert history[-1]["watched_at"] == "2026-01-01T20:15:00Z"


def test_a_time_without_an_offset_is_a_400_naming_it(catalog: httpx.Client) -> None:
    play = {"title_id": "t1", "position_s": 5, "watched_at": "2026-01-01T22:15:00"}
    answer = catalog.post(f"/v1/profiles/p-{uuid.uuid4().hex[:8]}/history", json=play)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == "watched_at"


def test_the_document_says_so(catalog: httpx.Client) -> None:
    schemas = catalog.get("/openapi.json").json()["components"]["schemas"]
    for model in ("Watched", "HistoryEntry"):
        field = schemas[model]["properties"]["watched_at"]
        assert "UTC offset" in str(field), field
