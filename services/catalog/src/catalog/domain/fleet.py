"""The Open Connect fleet: the appliances files are streamed from, as steering ranks them and
the fill planner fills them."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Appliance:
    id: str
    kind: str  # "isp" (embedded in an ISP) or "ixp" (at a peering point)
    isp: str | None
    region: str
    url: str
    healthy: bool = True
    load: float = 0.0  # 0..1
    files: frozenset[str] = frozenset()
    capacity_files: int = 100
