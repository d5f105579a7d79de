"""The catalog's playback metrics beside the cache's (``catalog.evcache``): where steering
sends each play, the number Open Connect's fill is judged by."""

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter

from catalog.domain.steering import TIERS, Tier


@dataclass
class CatalogMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.plays = Counter(
            "catalog_plays",
            "Plays steered, by the tier of the first source offered (isp: an appliance embedded"
            " in the client's ISP; ixp: a peering appliance in its region; origin) and whether"
            " that source is inside the client's ISP (the share the fill planner raises)",
            ["tier", "in_isp"],
            registry=self.registry,
        )
        # Every series from the start, so that a ratio over them exists before the first play.
        for tier in TIERS:
            self.plays.labels(tier, _in_isp(tier))

    def steered(self, tier: Tier) -> None:
        self.plays.labels(tier, _in_isp(tier)).inc()


def _in_isp(tier: Tier) -> str:
    # Steering offers only the client's own ISP's embedded appliances, so the isp tier is
    # exactly the in-ISP share; the label spares a dashboard that knowledge.
    return "true" if tier == "isp" else "false"
