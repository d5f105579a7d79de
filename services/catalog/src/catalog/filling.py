"""The periodic fill planner: replans every appliance from live popularity and reports how many
plays an appliance inside the client's own ISP would serve.

Live popularity is the count of playback starts per region and per ISP that the plays consumer
keeps in Redis; it is blended with the seed forecast (``blend_popularity``) so a fresh stack
still has a plan. Files are "moved" by replacing the appliance's contents in the in-memory fleet.

``catalog.fill`` (read at each run) chooses the plan: ``popularity`` (the above) or ``random``
(the same capacities filled with a sample of the catalogue, seeded by the run number), the
baseline the in-ISP share of the popularity fill is judged against.
"""

import time
from dataclasses import dataclass, field, replace

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, Counter, Gauge

from catalog import popularity
from catalog.domain.fill import (
    FillPlan,
    blend_popularity,
    isp_hit_share,
    plan_fleet,
    plan_random_fleet,
)
from catalog.domain.fleet import Appliance
from catalog.seed import title_id
from catalog.topology import ISPS, REGIONS, forecast
from stackkit import flags
from stackkit.logs import get_logger

log = get_logger(__name__)


@dataclass
class FillReport:
    runs: int = 0
    planned_at: float | None = None
    plays_counted: float = 0.0
    in_isp_share: float = 0.0
    in_isp_share_by_isp: dict[str, float] = field(default_factory=dict)
    added: int = 0
    evicted: int = 0
    plans: dict[str, FillPlan] = field(default_factory=dict)


class FillPlanner:
    def __init__(
        self,
        redis: "aioredis.Redis",
        fleet: dict[str, Appliance],
        catalogue_size: int,
        pseudo_plays: float,
        registry: CollectorRegistry,
    ) -> None:
        self._redis = redis
        self._fleet = fleet
        self._forecast = forecast(catalogue_size)
        self._catalogue = [title_id(rank) for rank in range(catalogue_size)]
        self._pseudo_plays = pseudo_plays
        self.report = FillReport()
        self._share = Gauge(
            "catalog_fill_in_isp_share",
            "Share of counted plays an appliance inside the client's ISP would serve",
            registry=registry,
        )
        self._moves = Counter(
            "catalog_fill_files_moved", "Files added or evicted by the fill planner",
            ["change"], registry=registry,
        )  # fmt: skip

    async def _popularity_plans(self) -> dict[str, FillPlan]:
        live = {region: await popularity.region_starts(self._redis, region) for region in REGIONS}
        predicted = {
            region: blend_popularity(self._forecast[region], live[region], self._pseudo_plays)
            for region in REGIONS
        }
        return plan_fleet(self._fleet.values(), predicted)

    async def run(self) -> FillReport:
        fill = flags.choice("catalog.fill")
        if fill == "random":
            plans = plan_random_fleet(self._fleet.values(), self._catalogue, self.report.runs + 1)
        else:
            plans = await self._popularity_plans()
        plays = [
            (isp, title, count)
            for isp in ISPS
            for title, count in (await popularity.isp_starts(self._redis, isp)).items()
        ]
        share, by_isp = isp_hit_share(plays, self._fleet.values(), plans)
        for appliance_id, plan in plans.items():
            # health may have changed while we planned: only the contents are replaced
            self._fleet[appliance_id] = replace(self._fleet[appliance_id], files=plan.contents)
        added = sum(len(plan.add) for plan in plans.values())
        evicted = sum(len(plan.evict) for plan in plans.values())
        self._moves.labels("added").inc(added)
        self._moves.labels("evicted").inc(evicted)
        self._share.set(share)
        log.info("fill_planned", fill=fill, in_isp_share=round(share, 4), added=added)
        self.report = FillReport(
            runs=self.report.runs + 1,
            planned_at=time.time(),
            plays_counted=sum(count for _, _, count in plays),
            in_isp_share=share,
            in_isp_share_by_isp=by_isp,
            added=added,
            evicted=evicted,
            plans=plans,
        )
        return self.report
