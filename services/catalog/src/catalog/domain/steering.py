"""Open Connect steering: which servers a client should stream a file from, best first.

Order: healthy appliances embedded in the client's own ISP that hold the file, then healthy
peering (IXP) appliances in the client's region that hold it, then the origin. An unhealthy
appliance, or one without the file, is never offered. Within a tier the least loaded is first.
"""

from dataclasses import dataclass
from typing import Literal, get_args

from catalog.domain.fleet import Appliance

Tier = Literal["isp", "ixp", "origin"]
"""Where a source sits: embedded in the client's ISP, at a peering point, or the origin."""
TIERS: tuple[Tier, ...] = get_args(Tier)


@dataclass(frozen=True)
class Client:
    isp: str
    region: str


@dataclass(frozen=True)
class Source:
    url: str
    tier: Tier


def steer(
    client: Client, file_id: str, appliances: list[Appliance], origin_url: str
) -> list[Source]:
    """The sources in the order the client should try them, each with its tier; the origin is
    always last, so the list is never empty."""

    def usable(appliance: Appliance) -> bool:
        return appliance.healthy and file_id in appliance.files

    embedded = [a for a in appliances if usable(a) and a.kind == "isp" and a.isp == client.isp]
    peering = [a for a in appliances if usable(a) and a.kind == "ixp" and a.region == client.region]
    tiers: list[tuple[Tier, list[Appliance]]] = [("isp", embedded), ("ixp", peering)]
    ranked = [
        Source(a.url, tier)
        for tier, members in tiers
        for a in sorted(members, key=lambda a: (a.load, a.id))
    ]
    return [*ranked, Source(origin_url, "origin")]


def rank_sources(
    client: Client, file_id: str, appliances: list[Appliance], origin_url: str
) -> list[str]:
    """The URLs of :func:`steer`'s sources, best first."""
    return [source.url for source in steer(client, file_id, appliances, origin_url)]
