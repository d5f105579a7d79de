"""``catalog.fill`` on the native stack: the same counted plays, planned by popularity and then
by a random fill of the same capacities, flipped in the stack's flag file while it runs; the
planner's report (``POST /v1/fill``) and its gauge show the in-ISP share fall, then come back."""

import bisect
import itertools
import random
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from devstack.stack import REPO_FLAG_FILE, NativeStack
from stackkit.flag_file import read_flag_file, set_flag, write_flag_file
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

SEEDED = 5000  # CATALOG_SEED_TITLES' default: the catalogue the native stack seeds
ISPS = [("telco-eu-1", "eu"), ("telco-eu-2", "eu"), ("cable-us-1", "us"),
        ("cable-us-2", "us"), ("mobile-apac-1", "apac"), ("fibre-apac-2", "apac")]  # fmt: skip
PLAYS = 300
_CUMULATIVE = list(itertools.accumulate(1.0 / rank for rank in range(1, SEEDED + 1)))


def zipf_plays(count: int, rng: random.Random) -> list[dict[str, object]]:
    """``count`` playback starts of Zipf(1)-popular seeded titles, spread over the ISPs."""
    plays: list[dict[str, object]] = []
    for n in range(count):
        rank = bisect.bisect_left(_CUMULATIVE, rng.random() * _CUMULATIVE[-1])
        isp, region = ISPS[n % len(ISPS)]
        plays.append({
            "profile_id": f"fill-{uuid.uuid4().hex[:10]}", "title_id": f"t{rank}",
            "kind": "start", "position_s": 0, "region": region, "isp": isp,
            "at": "2026-03-01T10:00:00Z",
        })  # fmt: skip
    return plays


@pytest.fixture
async def catalog(native_stack: NativeStack) -> AsyncIterator[httpx.AsyncClient]:
    # Straight to the catalog: POST /v1/fill is not something the edge should cache or retry.
    async with httpx.AsyncClient(base_url=native_stack.url("catalog"), timeout=30) as client:
        yield client


async def in_force(catalog: httpx.AsyncClient, variant: str) -> None:
    async def shown() -> bool:
        values = (await catalog.get("/flags")).json()["values"]
        return bool(values.get("catalog.fill") == variant)

    await eventually(shown, timeout_s=10, what=f"catalog showing catalog.fill={variant}")


async def gauge(catalog: httpx.AsyncClient) -> float:
    for line in (await catalog.get("/metrics")).text.splitlines():
        if line.startswith("catalog_fill_in_isp_share "):
            return float(line.split()[-1])
    raise AssertionError("no catalog_fill_in_isp_share on /metrics")


async def fill(catalog: httpx.AsyncClient) -> dict[str, object]:
    response = await catalog.post("/v1/fill")
    assert response.status_code == 200, response.text
    plan: dict[str, object] = response.json()
    return plan


async def test_a_random_fill_serves_far_fewer_plays_inside_the_client_s_isp(
    native_stack: NativeStack, catalog: httpx.AsyncClient
) -> None:
    counted_before = float(str((await fill(catalog))["plays_counted"]))
    response = await catalog.post(
        "/v1/plays/batch", json={"plays": zipf_plays(PLAYS, random.Random(19))}
    )
    assert response.status_code == 202, response.text

    async def counted() -> bool:
        return float(str((await fill(catalog))["plays_counted"])) >= counted_before + PLAYS

    await eventually(counted, timeout_s=30, what=f"the planner counting {PLAYS} more plays")
    popular = await fill(catalog)
    popular_share = float(str(popular["in_isp_share"]))
    assert await gauge(catalog) == pytest.approx(popular_share)

    path = native_stack.flags_path
    try:
        set_flag(path, "catalog.fill", "random")
        await in_force(catalog, "random")
        randomly = await fill(catalog)
        random_share = float(str(randomly["in_isp_share"]))
        assert randomly["plays_counted"] == popular["plays_counted"], "the same plays"
        assert await gauge(catalog) == pytest.approx(random_share)
        assert random_share > 0 and 2 * random_share <= popular_share, (popular_share, random_share)
        appliances = randomly["appliances"]
        assert isinstance(appliances, list)
        assert all(a["holds"] == a["capacity_files"] for a in appliances), "the same capacity"
        assert float(str(randomly["added"])) > 0, "the fleet was refilled"
    finally:
        write_flag_file(path, read_flag_file(REPO_FLAG_FILE))
        await in_force(catalog, "popularity")
        back = await fill(catalog)  # the fleet popularity-filled again for the tests after
    back_share = float(str(back["in_isp_share"]))
    assert back_share >= 2 * random_share
    assert back_share == pytest.approx(popular_share, abs=0.02), "near ties stay where they are"
