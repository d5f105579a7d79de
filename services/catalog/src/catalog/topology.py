"""A small Open Connect topology: two regions, four ISPs with embedded appliances, a peering
appliance per region, filled by the planner from a Zipf-shaped popularity of the catalogue.

Kept in the catalog process's memory (each process builds the same one); appliance health can
be changed at run time to watch steering route around a failure.
"""

from dataclasses import replace

from catalog.domain.fill import plan_fill
from catalog.domain.steering import Appliance

ISPS = {"telco-eu-1": "eu", "telco-eu-2": "eu", "cable-us-1": "us", "cable-us-2": "us"}
ORIGIN_URL = "http://origin.catalog.local"
CATALOGUE_SIZE = 1000


def predicted_popularity(region: str) -> dict[str, float]:
    """Zipf-shaped bytes per title, a little different per region."""
    shift = 0 if region == "eu" else 7
    return {
        f"t{(rank + shift) % CATALOGUE_SIZE}": 1.0 / (rank + 1) for rank in range(CATALOGUE_SIZE)
    }


def default_topology() -> dict[str, Appliance]:
    empty: list[Appliance] = []
    for isp, region in ISPS.items():
        for n in (1, 2):
            empty.append(
                Appliance(
                    f"oca-{isp}-{n}",
                    "isp",
                    isp,
                    region,
                    f"http://oca-{isp}-{n}.oca.local",
                    capacity_files=100,
                )
            )
    for region in sorted(set(ISPS.values())):
        empty.append(
            Appliance(
                f"ixp-{region}",
                "ixp",
                None,
                region,
                f"http://ixp-{region}.oca.local",
                capacity_files=400,
            )
        )
    filled = {}
    for appliance in empty:
        plan = plan_fill(appliance, predicted_popularity(appliance.region))
        filled[appliance.id] = replace(appliance, files=plan.contents)
    return filled
