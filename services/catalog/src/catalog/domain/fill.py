"""Proactive fill: what each appliance should hold tomorrow, from predicted popularity.

For each appliance, titles are ranked by the bytes its region is predicted to stream; a title
it already holds gets a bonus (``STICKINESS``) so near-ties do not churn, then the ranking is
cut at capacity. The plan says what to add and what to evict.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from catalog.domain.steering import Appliance

STICKINESS = 1.2


@dataclass(frozen=True)
class FillPlan:
    appliance_id: str
    keep: frozenset[str]
    add: frozenset[str]
    evict: frozenset[str]

    @property
    def contents(self) -> frozenset[str]:
        return self.keep | self.add


def plan_fill(appliance: Appliance, predicted_bytes: Mapping[str, float]) -> FillPlan:
    def score(title: str) -> float:
        base = predicted_bytes.get(title, 0.0)
        return base * STICKINESS if title in appliance.files else base

    candidates = set(predicted_bytes) | set(appliance.files)
    ranked = sorted((t for t in candidates if score(t) > 0), key=lambda t: (-score(t), t))
    target = frozenset(ranked[: appliance.capacity_files])
    return FillPlan(
        appliance.id,
        keep=target & appliance.files,
        add=target - appliance.files,
        evict=appliance.files - target,
    )


def isp_hit_share(
    plays: list[tuple[str, str, str]], appliances: list[Appliance], plans: Mapping[str, FillPlan]
) -> float:
    """Share of ``(isp, region, title)`` plays an appliance inside the client's ISP could serve."""
    if not plays:
        return 0.0
    held: dict[str, set[str]] = {}
    for appliance in appliances:
        if appliance.kind == "isp" and appliance.isp and appliance.healthy:
            contents = plans[appliance.id].contents if appliance.id in plans else appliance.files
            held.setdefault(appliance.isp, set()).update(contents)
    served = sum(1 for isp, _, title in plays if title in held.get(isp, set()))
    return served / len(plays)
