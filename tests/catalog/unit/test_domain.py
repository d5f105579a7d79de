"""Encoding ladders, Open Connect steering (property tests) and the fill planner."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catalog.domain.fill import isp_hit_share, plan_fill
from catalog.domain.ladder import DeviceProfile, ladder, manifest
from catalog.domain.steering import Appliance, Client, rank_sources
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
    plans = {"a1": plan_fill(inside, {"t1": 10.0, "t2": 1.0})}
    plays = [
        ("isp-a", "eu", "t1"),
        ("isp-a", "eu", "t2"),
        ("isp-b", "eu", "t1"),
        ("isp-a", "eu", "t1"),
    ]
    assert isp_hit_share(plays, [inside], plans) == 0.5
    assert isp_hit_share([], [inside], plans) == 0.0
