import pytest

from edge.domain.anycast import (
    InvalidTopology,
    client_region,
    distance_km,
    parse_networks,
    parse_pops,
    rank,
)

POPS = parse_pops(
    "pop-1@eu-west=127.0.0.1:8081,pop-2@us-east=127.0.0.1:8082,"
    "pop-3@ap-southeast=http://127.0.0.1:8083/"
)


def test_parsing_pops() -> None:
    assert [(p.name, p.region, p.port) for p in POPS] == [
        ("pop-1", "eu-west", 8081),
        ("pop-2", "us-east", 8082),
        ("pop-3", "ap-southeast", 8083),
    ]


@pytest.mark.parametrize("text", ["", "pop-1@mars=h:1", "pop-1@eu-west=h", "@eu-west=h:1"])
def test_bad_topologies_are_refused(text: str) -> None:
    with pytest.raises(InvalidTopology):
        parse_pops(text)


def test_distances_are_plausible() -> None:
    assert distance_km("eu-west", "eu-west") == 0
    assert 5000 < distance_km("eu-west", "us-east") < 6000
    assert distance_km("ap-southeast", "ap-south") < distance_km("ap-southeast", "eu-west")


def test_nearest_healthy_pop_first() -> None:
    everyone = {"pop-1", "pop-2", "pop-3"}
    assert [p.name for p in rank(POPS, "eu-central", everyone)] == ["pop-1", "pop-2", "pop-3"]
    assert rank(POPS, "ap-northeast", everyone)[0].name == "pop-3"
    assert rank(POPS, "sa-east", everyone)[0].name == "pop-2"
    assert [p.name for p in rank(POPS, "eu-west", {"pop-2", "pop-3"})] == ["pop-2", "pop-3"]
    assert rank(POPS, "eu-west", set()) == []


def test_client_region_from_hint_then_address_then_default() -> None:
    networks = parse_networks("10.0.0.0/8=us-east,10.1.0.0/16=ap-south,::1/128=sa-east")
    assert client_region("AP-Southeast", "10.1.2.3", networks, "eu-west") == "ap-southeast"
    assert client_region(None, "10.1.2.3", networks, "eu-west") == "ap-south"  # most specific
    assert client_region("mars", "10.9.9.9", networks, "eu-west") == "us-east"
    assert client_region(None, "::1", networks, "eu-west") == "sa-east"
    assert client_region(None, "192.0.2.1", networks, "eu-west") == "eu-west"
    assert client_region(None, "not an address", networks, "eu-west") == "eu-west"
    with pytest.raises(InvalidTopology):
        parse_networks("10.0.0.0/8=moon")
