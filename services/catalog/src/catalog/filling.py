"""The periodic fill planner: replans every appliance from live popularity and reports how many
plays an appliance inside the client's own ISP would serve.

Live popularity is the count of playback starts per region and per ISP that the plays consumer
keeps in Redis; it is blended with the seed forecast (``blend_popularity``) so a fresh stack
still has a plan. Files are "moved" by replacing the appliance's contents in the in-memory fleet.
"""

import time
from dataclasses import dataclass, field, replace

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, Counter, Gauge

from catalog import popularity
from catalog.domain.fill import FillPlan, blend_popularity, isp_hit_share, plan_fleet
from catalog.domain.fleet import Appliance
from catalog.topology import ISPS, REGIONS, forecast


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

    async def run(self) -> FillReport:
        live = {region: await popularity.region_starts(self._redis, region) for region in REGIONS}
        predicted = {
            region: blend_popularity(self._forecast[region], live[region], self._pseudo_plays)
            for region in REGIONS
        }
        plans = plan_fleet(self._fleet.values(), predicted)
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
