"""The Open Connect topology: three regions, two ISPs each with two embedded appliances, and a
peering (IXP) appliance per region. Capacities scale with the catalogue: an embedded appliance
holds 5% of it, a peering one 20%, so only the head of each region's popularity fits inside an
ISP and the planner has to choose.

Kept in the catalog process's memory (each process builds the same one from the seed forecast);
the fill planner (``catalog.filling``) replans it from live plays, and appliance health can be
changed at run time to watch steering route around a failure.
"""

from dataclasses import replace

from catalog.domain.fill import plan_fleet
from catalog.domain.fleet import Appliance
from catalog.seed import prior_popularity

ISPS = {
    "telco-eu-1": "eu",
    "telco-eu-2": "eu",
    "cable-us-1": "us",
    "cable-us-2": "us",
    "mobile-apac-1": "apac",
    "fibre-apac-2": "apac",
}
REGIONS = sorted(set(ISPS.values()))
ORIGIN_URL = "http://origin.catalog.local"


def forecast(catalogue_size: int) -> dict[str, dict[str, float]]:
    return {region: prior_popularity(region, catalogue_size) for region in REGIONS}


def forecast_head(catalogue_size: int, length: int) -> dict[str, list[str]]:
    """Each region's most popular titles by the forecast, most popular first."""
    return {
        region: sorted(prior, key=prior.__getitem__, reverse=True)[:length]
        for region, prior in forecast(catalogue_size).items()
    }


def default_topology(catalogue_size: int) -> dict[str, Appliance]:
    """Every appliance, filled from the seed forecast."""
    embedded = max(1, catalogue_size // 20)
    empty = [
        Appliance(
            f"oca-{isp}-{n}",
            "isp",
            isp,
            region,
            f"http://oca-{isp}-{n}.oca.local",
            capacity_files=embedded,
        )
        for isp, region in ISPS.items()
        for n in (1, 2)
    ]
    empty += [
        Appliance(
            f"ixp-{region}",
            "ixp",
            None,
            region,
            f"http://ixp-{region}.oca.local",
            capacity_files=max(1, catalogue_size // 5),
        )
        for region in REGIONS
    ]
    plans = plan_fleet(empty, forecast(catalogue_size))
    return {a.id: replace(a, files=plans[a.id].contents) for a in empty}
