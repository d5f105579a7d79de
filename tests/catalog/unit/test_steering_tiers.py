"""Steering names each source's tier: the client's ISP's appliances, then its region's IXP,
then the origin, whatever the fleet's health."""

from catalog.domain.fleet import Appliance
from catalog.domain.steering import Client, rank_sources, steer

FLEET = [
    Appliance("isp-1", "isp", "telco", "eu", "http://isp-1", files=frozenset({"f"})),
    Appliance("ixp-eu", "ixp", None, "eu", "http://ixp-eu", files=frozenset({"f"})),
    Appliance("other", "isp", "cable", "eu", "http://other", files=frozenset({"f"})),
]


def test_sources_carry_their_tier_and_the_origin_closes_the_list() -> None:
    ranked = steer(Client("telco", "eu"), "f", FLEET, "http://origin")
    assert [(s.url, s.tier) for s in ranked] == [
        ("http://isp-1", "isp"),
        ("http://ixp-eu", "ixp"),
        ("http://origin", "origin"),
    ]
    assert rank_sources(Client("telco", "eu"), "f", FLEET, "http://origin") == [
        s.url for s in ranked
    ]


def test_without_a_holder_the_first_tier_is_the_origin() -> None:
    ranked = steer(Client("telco", "us"), "g", FLEET, "http://origin")
    assert [s.tier for s in ranked] == ["origin"]
