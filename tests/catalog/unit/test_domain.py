"""Encoding ladders, Open Connect steering (property tests) and the fill planner."""

import math
from dataclasses import replace

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from catalog.domain.fill import blend_popularity, isp_hit_share, plan_fill, plan_fleet
from catalog.domain.fleet import Appliance
from catalog.domain.ladder import DeviceProfile, ladder, manifest
from catalog.domain.steering import Client, rank_sources
from catalog.seed import GENRES, prior_popularity, seed_titles
from catalog.topology import default_topology
from stackkit.errors import Invalid

# -- ladder and manifest -----------------------------------------------------------------------


def test_every_title_has_many_variants() -> None:
    variants = ladder()
    assert len(variants) == 54 and len({v.id for v in variants}) == 54


@pytest.mark.parametrize(
    ("codecs", "max_height", "bandwidth", "codec", "top_height"),
    [
        (["h264"], 1080, 50_000, "h264", 1080),
        (["h264", "hevc"], 2160, 50_000, "hevc", 2160),
        (["av1", "h264"], 720, 3_000, "av1", 720),
        (["h264"], 2160, 1_500, "h264", 540),
    ],
)
def test_the_manifest_fits_device_and_bandwidth(
    codecs: list[str], max_height: int, bandwidth: float, codec: str, top_height: int
) -> None:
    rungs = manifest(ladder(), DeviceProfile.parse(codecs, max_height), bandwidth)
    assert {r.codec for r in rungs} == {codec}
    assert max(r.height for r in rungs) == top_height
    assert all(r.bitrate_kbps <= bandwidth * 0.8 for r in rungs)
    assert [r.bitrate_kbps for r in rungs] == sorted(r.bitrate_kbps for r in rungs)


def test_a_starved_connection_still_gets_the_lowest_rung() -> None:
    rungs = manifest(ladder(), DeviceProfile.parse(["h264"], 1080), 10)
    assert len(rungs) == 1 and rungs[0].height == 180


@pytest.mark.parametrize("bandwidth", [0, -5, math.nan, math.inf, 1e12])
def test_absurd_bandwidths_are_rejected(bandwidth: float) -> None:
    with pytest.raises(Invalid) as error:
        manifest(ladder(), DeviceProfile.parse(["h264"], 1080), bandwidth)
    assert error.value.param == "bandwidth_kbps"


@pytest.mark.parametrize(
    ("codecs", "height"), [([], 1080), (["vp9"], 1080), (["h264"], 100), (["h264"], 10_000)]
)
def test_invalid_device_profiles_are_rejected(codecs: list[str], height: int) -> None:
    with pytest.raises(Invalid):
        DeviceProfile.parse(codecs, height)


# -- steering (property tests) -----------------------------------------------------------------

ISPS, REGIONS, FILES = ["isp-a", "isp-b", "isp-c"], ["eu", "us"], ["f1", "f2", "f3", "f4"]

appliances = st.lists(
    st.builds(
        Appliance,
        id=st.uuids().map(str),
        kind=st.sampled_from(["isp", "ixp"]),
        isp=st.sampled_from(ISPS),
        region=st.sampled_from(REGIONS),
        url=st.uuids().map(lambda u: f"http://oca-{u}"),
        healthy=st.booleans(),
        load=st.floats(0, 1),
        files=st.frozensets(st.sampled_from(FILES)),
    ),
    max_size=12,
)
clients = st.builds(Client, isp=st.sampled_from(ISPS), region=st.sampled_from(REGIONS))


@given(appliances, clients, st.sampled_from(FILES))
def test_steering_never_offers_a_sick_or_empty_server_and_ends_at_the_origin(
    fleet: list[Appliance], client: Client, file_id: str
) -> None:
    ranked = rank_sources(client, file_id, fleet, "http://origin")
    assert ranked[-1] == "http://origin"
    by_url = {a.url: a for a in fleet}
    offered = [by_url[url] for url in ranked[:-1]]
    assert all(a.healthy and file_id in a.files for a in offered)
    assert len(set(ranked)) == len(ranked)


@given(appliances, clients, st.sampled_from(FILES))
def test_steering_puts_the_clients_own_isp_first_then_peering(
    fleet: list[Appliance], client: Client, file_id: str
) -> None:
    by_url = {a.url: a for a in fleet}
    offered = [by_url[url] for url in rank_sources(client, file_id, fleet, "http://origin")[:-1]]
    tiers = [0 if a.kind == "isp" and a.isp == client.isp else 1 for a in offered]
    assert tiers == sorted(tiers)
    assert all(
        a.region == client.region for a, tier in zip(offered, tiers, strict=True) if tier == 1
    )
    usable_own = [
        a
        for a in fleet
        if a.kind == "isp" and a.isp == client.isp and a.healthy and file_id in a.files
    ]
    assert sum(1 for t in tiers if t == 0) == len(usable_own)


# -- fill planning -----------------------------------------------------------------------------


def test_fill_respects_capacity_and_takes_the_most_popular() -> None:
    appliance = Appliance("a1", "isp", "isp-a", "eu", "http://a1", capacity_files=3)
    popularity = {"t1": 100.0, "t2": 90.0, "t3": 80.0, "t4": 10.0}
    plan = plan_fill(appliance, popularity)
    assert plan.contents == {"t1", "t2", "t3"} and plan.evict == frozenset()


def test_fill_does_not_churn_on_near_ties() -> None:
    appliance = Appliance(
        "a1", "isp", "isp-a", "eu", "http://a1", files=frozenset({"t3"}), capacity_files=2
    )
    popularity = {"t1": 100.0, "t2": 90.0, "t3": 85.0}
    plan = plan_fill(appliance, popularity)
    assert plan.keep == {"t3"} and plan.add == {"t1"} and plan.evict == frozenset()
    clear_loser = plan_fill(appliance, {"t1": 100.0, "t2": 90.0, "t3": 20.0})
    assert clear_loser.evict == {"t3"}


def test_the_isp_hit_share_counts_plays_served_inside_the_isp() -> None:
    inside = Appliance("a1", "isp", "isp-a", "eu", "http://a1", capacity_files=1)
    down = Appliance(
        "a2", "isp", "isp-c", "eu", "http://a2", healthy=False, files=frozenset({"t1"})
    )
    plans = {"a1": plan_fill(inside, {"t1": 10.0, "t2": 1.0})}
    plays = [("isp-a", "t1", 2.0), ("isp-a", "t2", 1.0), ("isp-b", "t1", 1.0), ("isp-c", "t1", 4.0)]
    overall, per_isp = isp_hit_share(plays, [inside, down], plans)
    assert overall == 2 / 8
    assert per_isp == {"isp-a": 2 / 3, "isp-b": 0.0, "isp-c": 0.0}
    assert isp_hit_share([], [inside], plans) == (0.0, {})


def test_blending_starts_from_the_prior_and_follows_live_plays() -> None:
    prior = {"t1": 3.0, "t2": 1.0}
    assert blend_popularity(prior, {}, pseudo_plays=100) == {"t1": 0.75, "t2": 0.25}
    live = {"t9": 100.0}
    blended = blend_popularity(prior, live, pseudo_plays=100)
    assert blended == pytest.approx({"t1": 0.375, "t2": 0.125, "t9": 0.5})
    flooded = blend_popularity(prior, {"t9": 1_000_000.0}, pseudo_plays=100)
    assert max(flooded, key=flooded.__getitem__) == "t9" and flooded["t9"] > 0.99
    assert blend_popularity({}, {}, pseudo_plays=100) == {}


@given(
    st.dictionaries(st.sampled_from([f"t{i}" for i in range(40)]), st.floats(0, 1e6), max_size=40),
    st.dictionaries(st.sampled_from([f"t{i}" for i in range(40)]), st.floats(0, 1e6), max_size=40),
    st.integers(1, 20),
)
@example(prior={"t0": 5e-324}, live={"t0": 1e6, "t1": 2.2e-308}, capacity=1)  # underflow
def test_a_plan_fits_and_replanning_the_same_forecast_changes_nothing(
    prior: dict[str, float], live: dict[str, float], capacity: int
) -> None:
    predicted = blend_popularity(prior, live, pseudo_plays=50)
    assert sum(predicted.values()) == pytest.approx(1.0) or not predicted
    fleet = [
        Appliance("a1", "isp", "isp-a", "eu", "http://a1", capacity_files=capacity),
        Appliance("x1", "ixp", None, "eu", "http://x1", capacity_files=capacity * 2),
        Appliance("u1", "isp", "isp-u", "us", "http://u1", files=frozenset({"t1"})),
    ]
    plans = plan_fleet(fleet, {"eu": predicted})
    for appliance in fleet:
        plan = plans[appliance.id]
        assert len(plan.contents) <= appliance.capacity_files
        assert plan.keep | plan.evict == appliance.files
        settled = replace(appliance, files=plan.contents)
        again = plan_fill(settled, predicted) if appliance.region == "eu" else plan
        assert again.add == frozenset() and again.evict == frozenset()
    assert plans["u1"].contents == {"t1"}  # no forecast for its region: it keeps what it holds


# -- seed data ---------------------------------------------------------------------------------


def test_the_seed_is_deterministic_and_looks_like_a_catalogue() -> None:
    titles = seed_titles(2000)
    assert titles == seed_titles(2000)
    assert [t.title_id for t in titles[:3]] == ["t0", "t1", "t2"]
    assert all(1 <= len(t.genres) <= 3 and set(t.genres) <= set(GENRES) for t in titles)
    assert all(20 * 60 <= t.duration_s <= 180 * 60 and 1960 <= t.year <= 2026 for t in titles)
    assert len({t.name for t in titles}) > 200


def test_regional_forecasts_rotate_the_ranking_and_cover_the_catalogue() -> None:
    eu, us = prior_popularity("eu", 100), prior_popularity("us", 100)
    assert max(eu, key=eu.__getitem__) == "t0" and max(us, key=us.__getitem__) == "t7"
    assert set(eu) == set(us) == {f"t{i}" for i in range(100)}
    assert prior_popularity("mars", 100) == {} and prior_popularity("eu", 0) == {}


def test_the_default_topology_is_filled_to_capacity_from_the_forecast() -> None:
    fleet = default_topology(1000)
    assert len(fleet) == 15
    for appliance in fleet.values():
        assert len(appliance.files) == appliance.capacity_files
    assert "t0" in fleet["oca-telco-eu-1-1"].files and "t7" in fleet["oca-cable-us-1-1"].files
    assert "t999" not in fleet["oca-telco-eu-1-1"].files
