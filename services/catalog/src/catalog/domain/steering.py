"""Open Connect steering: which servers a client should stream a file from, best first.

Order: healthy appliances embedded in the client's own ISP that hold the file, then healthy
peering (IXP) appliances in the client's region that hold it, then the origin. An unhealthy
appliance, or one without the file, is never offered. Within a tier the least loaded is first.
"""

from dataclasses import dataclass

from catalog.domain.fleet import Appliance


@dataclass(frozen=True)
class Client:
    isp: str
    region: str


def rank_sources(
    client: Client, file_id: str, appliances: list[Appliance], origin_url: str
) -> list[str]:
    def usable(appliance: Appliance) -> bool:
        return appliance.healthy and file_id in appliance.files

    embedded = [a for a in appliances if usable(a) and a.kind == "isp" and a.isp == client.isp]
    peering = [a for a in appliances if usable(a) and a.kind == "ixp" and a.region == client.region]
    tiers = [sorted(tier, key=lambda a: (a.load, a.id)) for tier in (embedded, peering)]
    return [a.url for tier in tiers for a in tier] + [origin_url]
