"""The stand-in for BGP anycast: one entry address, each client sent to its nearest healthy PoP.

On the internet the network picks the nearest PoP announcing the address and a PoP that stops
announcing (a withdrawal) loses its traffic to the next nearest. Here a client's region comes
from a hint header or from its address, PoPs sit in regions, and distance is great-circle
distance between the regions' reference points.
"""

import ipaddress
import math
from collections.abc import Iterable
from dataclasses import dataclass

REGION_HINT_HEADER = "x-client-region"

REGIONS: dict[str, tuple[float, float]] = {
    "eu-west": (53.35, -6.26),  # Dublin
    "eu-central": (50.11, 8.68),  # Frankfurt
    "us-east": (39.04, -77.49),  # Ashburn
    "us-west": (37.34, -121.89),  # San Jose
    "sa-east": (-23.55, -46.63),  # São Paulo
    "ap-south": (19.08, 72.88),  # Mumbai
    "ap-southeast": (1.35, 103.82),  # Singapore
    "ap-northeast": (35.68, 139.69),  # Tokyo
}


class InvalidTopology(ValueError):
    pass


@dataclass(frozen=True)
class Pop:
    name: str
    region: str
    host: str
    port: int


def distance_km(a: str, b: str) -> float:
    (lat1, lon1), (lat2, lon2) = REGIONS[a], REGIONS[b]
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    cos = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return 6371.0 * math.acos(max(-1.0, min(1.0, cos)))


def parse_pops(text: str) -> tuple[Pop, ...]:
    """``name@region=host:port,...`` (``http://`` prefixes are allowed)."""
    pops = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        label, _, address = item.partition("=")
        name, _, region = label.partition("@")
        host, _, port = address.removeprefix("http://").rstrip("/").rpartition(":")
        if not (name and host and port.isdigit()) or region not in REGIONS:
            raise InvalidTopology(
                f"bad PoP {item!r}: want name@region=host:port, region one of {sorted(REGIONS)}"
            )
        pops.append(Pop(name, region, host, int(port)))
    if not pops:
        raise InvalidTopology("no PoPs configured")
    return tuple(pops)


Networks = tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...]


def parse_networks(text: str) -> Networks:
    """``cidr=region,...``: where clients on those addresses are."""
    networks = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        cidr, _, region = item.partition("=")
        if region not in REGIONS:
            raise InvalidTopology(f"bad network {item!r}: region one of {sorted(REGIONS)}")
        networks.append((ipaddress.ip_network(cidr, strict=False), region))
    # The most specific network wins, as in a routing table.
    return tuple(sorted(networks, key=lambda item: -item[0].prefixlen))


def client_region(hint: str | None, address: str, networks: Networks, default: str) -> str:
    if hint and hint.strip().lower() in REGIONS:
        return hint.strip().lower()
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return default
    for network, region in networks:
        if ip.version == network.version and ip in network:
            return region
    return default


def rank(pops: Iterable[Pop], region: str, healthy: set[str]) -> list[Pop]:
    """Healthy PoPs, nearest first (ties by name, so the choice is stable)."""
    return sorted(
        (pop for pop in pops if pop.name in healthy),
        key=lambda pop: (distance_km(region, pop.region), pop.name),
    )
