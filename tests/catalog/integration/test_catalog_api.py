"""The catalog through the edge: titles read through the zoned cache from the CQL server,
viewing history as newest-first bounded wide rows."""

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from devstack.processes import wait_until
from devstack.stack import NativeStack
from stackkit.kafka import EventProducer

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
    past_the_edge = {"cache-control": "no-cache"}  # the edge revalidates: the catalog is asked
    first = catalog.get(f"/v1/titles/{title_id}", headers=past_the_edge)
    assert first.status_code == 200 and first.json()["genres"] == ["drama", "sci-fi"]
    assert catalog.get(f"/v1/titles/{title_id}", headers=past_the_edge).json() == first.json()
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


def test_play_steers_to_the_isp_appliance_and_around_a_dead_one(catalog: httpx.Client) -> None:
    body = {"name": "Popular", "genres": ["drama"], "year": 2020, "duration_s": 5400}
    assert catalog.put("/v1/titles/t0", json=body).status_code == 200
    params: dict[str, str | int | float] = {
        "isp": "telco-eu-1",
        "region": "eu",
        "codecs": "h264,hevc",
        "max_height": 1080,
        "bandwidth_kbps": 6000,
    }
    played = catalog.get("/v1/titles/t0/play", params=params).json()
    assert {r["codec"] for r in played["manifest"]} == {"hevc"}
    assert max(r["height"] for r in played["manifest"]) == 1080
    assert played["sources"][0].startswith("http://oca-telco-eu-1-")
    assert played["sources"][-1] == "http://origin.catalog.local/t0"
    try:
        for n in (1, 2):
            assert (
                catalog.put(
                    f"/v1/appliances/oca-telco-eu-1-{n}/health", json={"healthy": False}
                ).status_code
                == 200
            )
        around = catalog.get("/v1/titles/t0/play", params=params).json()["sources"]
        assert not any("oca-telco-eu-1" in url for url in around)
        assert around[0].startswith("http://ixp-eu"), "peering next"
    finally:
        for n in (1, 2):
            catalog.put(f"/v1/appliances/oca-telco-eu-1-{n}/health", json={"healthy": True})


@pytest.mark.parametrize(
    ("title", "overrides", "status"),
    [
        ("t-missing", {}, 404),
        ("t0", {"codecs": "vp9"}, 400),
        ("t0", {"bandwidth_kbps": -1}, 400),
        ("t0", {"bandwidth_kbps": "nan"}, 400),
        ("t0", {"max_height": 5}, 400),
    ],
)
def test_bad_play_requests_are_4xx(
    catalog: httpx.Client, title: str, overrides: dict[str, str | int], status: int
) -> None:
    catalog.put(
        "/v1/titles/t0", json={"name": "Popular", "genres": [], "year": 2020, "duration_s": 5400}
    )
    params: dict[str, str | int | float] = {
        "isp": "telco-eu-1",
        "region": "eu",
        "codecs": "h264",
        "max_height": 1080,
        "bandwidth_kbps": 6000,
        **overrides,
    }
    assert catalog.get(f"/v1/titles/{title}/play", params=params).status_code == status
    assert catalog.put("/v1/appliances/nope/health", json={"healthy": False}).status_code == 404


def test_plays_flow_through_kafka_into_history_popularity_and_rows(
    native_stack: NativeStack, catalog: httpx.Client
) -> None:
    profile = f"p-{uuid.uuid4().hex[:8]}"
    region = f"r{uuid.uuid4().hex[:6]}"
    for title in ("t-play-a", "t-play-b"):
        catalog.put(
            f"/v1/titles/{title}",
            json={"name": title, "genres": ["drama"], "year": 2020, "duration_s": 600},
        )

    async def poison() -> None:
        producer = await EventProducer.start(
            native_stack.servers.kafka.bootstrap_servers, timeout_s=10
        )
        try:
            await producer.publish_raw("catalog.plays", b"not an envelope", profile.encode(), [])
        finally:
            await producer.stop()

    asyncio.run(poison())
    start = datetime(2026, 2, 1, tzinfo=UTC)
    for n, title in enumerate(["t-play-a", "t-play-b", "t-play-b"]):
        play = {
            "profile_id": profile,
            "title_id": title,
            "kind": "start",
            "position_s": 0,
            "region": region,
            "at": (start + timedelta(minutes=n)).isoformat(),
        }
        assert catalog.post("/v1/plays", json=play).status_code == 202

    wait_until(
        lambda: len(catalog.get(f"/v1/profiles/{profile}/history").json()) == 3,
        timeout_s=30,
        what="the plays in the history (past the poison record)",
    )
    rows = catalog.get(f"/v1/profiles/{profile}/rows", params={"region": region}).json()
    assert rows["personalized"]
    by_name = {row["name"]: row["titles"] for row in rows["rows"]}
    assert by_name["Continue watching"] == ["t-play-b", "t-play-a"]
    assert by_name[f"Trending in {region}"] == ["t-play-b", "t-play-a"]
    assert (
        catalog.post("/v1/plays", json={"profile_id": profile, "kind": "pause"}).status_code == 400
    )


def test_the_seeded_catalogue_and_forecast_are_there_from_the_start(catalog: httpx.Client) -> None:
    last = catalog.get("/v1/titles/t4999")
    assert last.status_code == 200 and last.json()["genres"], "5,000 titles seeded at start"
    rows = catalog.get("/v1/profiles/p-new/rows", params={"region": "eu"}).json()
    assert not any(row["name"] == "Continue watching" for row in rows["rows"])
    trending = next(row["titles"] for row in rows["rows"] if row["name"] == "Trending in eu")
    assert trending[0] == "t0" and len(trending) == 10, "topped up from the seed forecast"


def test_the_fill_planner_moves_a_title_people_play_into_their_isp(catalog: httpx.Client) -> None:
    rare, isp = "t4998", "telco-eu-2"
    params: dict[str, str | int | float] = {
        "isp": isp, "region": "eu", "codecs": "h264", "max_height": 720, "bandwidth_kbps": 3000,
    }  # fmt: skip
    before = catalog.get(f"/v1/titles/{rare}/play", params=params).json()["sources"]
    assert before == [f"http://origin.catalog.local/{rare}"], "the tail starts at the origin only"
    profile = f"p-{uuid.uuid4().hex[:8]}"
    for minute in range(3):
        play = {
            "profile_id": profile, "title_id": rare, "kind": "start", "position_s": 0,
            "region": "eu", "isp": isp, "at": f"2026-03-01T10:0{minute}:00Z",
        }  # fmt: skip
        assert catalog.post("/v1/plays", json=play).status_code == 202
    wait_until(
        lambda: len(catalog.get(f"/v1/profiles/{profile}/history").json()) == 3,
        timeout_s=30,
        what="the plays consumed",
    )

    plan = catalog.post("/v1/fill").json()
    assert plan["in_isp_share_by_isp"][isp] == 1.0
    assert plan["plays_counted"] >= 3
    for appliance in plan["appliances"]:
        assert appliance["holds"] <= appliance["capacity_files"]
    moved = {a["id"]: a for a in plan["appliances"] if a["added"]}
    assert {f"oca-{isp}-1", f"oca-{isp}-2", "ixp-eu"} <= set(moved)
    assert all(a["added"] == a["evicted"] for a in moved.values()), "full: one in, one out"
    after = catalog.get(f"/v1/titles/{rare}/play", params=params).json()["sources"]
    assert after[0].startswith(f"http://oca-{isp}-") and after[-1].startswith("http://origin")

    again = catalog.post("/v1/fill").json()
    assert again["added"] == again["evicted"] == 0, "the same popularity plans no churn"
    assert again["runs"] == plan["runs"] + 1
    assert catalog.get("/v1/fill").json()["runs"] == again["runs"]
    metrics = catalog.get("/metrics").text
    assert (
        "catalog_fill_in_isp_share" in metrics
        and 'catalog_fill_files_moved_total{change="added"}' in metrics
    )
