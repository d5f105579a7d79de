"""Proactive fill: what each appliance should hold tomorrow, from predicted popularity.

For each appliance, titles are ranked by the bytes its region is predicted to stream; a title
it already holds gets a bonus (``STICKINESS``) so near-ties do not churn, then the ranking is
cut at capacity. The plan says what to add and what to evict.

The random fill (``catalog.fill=random``) is the baseline Open Connect's claim is judged
against: the same capacity, filled with a seeded sample of the catalogue, blind to popularity.
"""

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from catalog.domain.fleet import Appliance

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


def plan_random_fill(appliance: Appliance, catalogue: Sequence[str], seed: int) -> FillPlan:
    """The appliance's capacity filled with titles drawn at random from ``catalogue``: the same
    sample for the same appliance and ``seed`` (the planner passes its run number), another
    sample for each appliance, so two appliances in one ISP hold different titles."""
    titles = list(dict.fromkeys(catalogue))  # a title listed twice is still one file
    # A string seed: random.Random hashes it with SHA-512, the same in every process and run.
    rng = random.Random(f"{seed}:{appliance.id}")
    target = frozenset(rng.sample(titles, min(appliance.capacity_files, len(titles))))
    return FillPlan(
        appliance.id,
        keep=target & appliance.files,
        add=target - appliance.files,
        evict=appliance.files - target,
    )


def plan_random_fleet(
    appliances: Iterable[Appliance], catalogue: Sequence[str], seed: int
) -> dict[str, FillPlan]:
    """:func:`plan_random_fill` for every appliance."""
    return {a.id: plan_random_fill(a, catalogue, seed) for a in appliances}


def blend_popularity(
    prior: Mapping[str, float], live: Mapping[str, float], pseudo_plays: float
) -> dict[str, float]:
    """Predicted share of a region's bytes per title: the prior (the seed's forecast) mixed with
    live plays, the live signal weighing ``n / (n + pseudo_plays)`` once ``n`` plays are counted.

    A new stack fills from the forecast; as plays arrive the planner follows what people watch.
    """
    live_total = sum(v for v in live.values() if v > 0)
    prior_total = sum(v for v in prior.values() if v > 0)
    if not live_total:
        live_weight = 0.0
    elif not prior_total:
        live_weight = 1.0
    else:
        live_weight = live_total / (live_total + pseudo_plays)
    blended: dict[str, float] = {}
    if prior_total:
        for title, value in prior.items():
            if value > 0:
                blended[title] = (1 - live_weight) * value / prior_total
    for title, value in live.items():
        if value > 0:
            blended[title] = blended.get(title, 0.0) + live_weight * value / live_total
    # A subnormal share times a small weight underflows to 0, and the rest no longer add up to
    # 1 (hypothesis found 1.0196; prior {t0: 5e-324} under a large live signal gives 0.99995):
    # normalise what was blended so that the prediction is a distribution whatever its input.
    total = sum(blended.values())
    return {title: share / total for title, share in blended.items()} if total else {}


def plan_fleet(
    appliances: Iterable[Appliance], predicted_by_region: Mapping[str, Mapping[str, float]]
) -> dict[str, FillPlan]:
    """One plan per appliance from its region's prediction (an unknown region plans nothing
    new: the appliance keeps what it holds)."""
    return {
        a.id: plan_fill(a, predicted_by_region.get(a.region, dict.fromkeys(a.files, 1.0)))
        for a in appliances
    }


def isp_hit_share(
    plays: Iterable[tuple[str, str, float]],
    appliances: Iterable[Appliance],
    plans: Mapping[str, FillPlan],
) -> tuple[float, dict[str, float]]:
    """Share of plays, given as ``(isp, title, count)``, that a healthy appliance inside the
    client's ISP could serve once ``plans`` are applied: overall and per ISP."""
    held: dict[str, set[str]] = {}
    for appliance in appliances:
        if appliance.kind == "isp" and appliance.isp and appliance.healthy:
            contents = plans[appliance.id].contents if appliance.id in plans else appliance.files
            held.setdefault(appliance.isp, set()).update(contents)
    served: dict[str, float] = {}
    total: dict[str, float] = {}
    for isp, title, count in plays:
        total[isp] = total.get(isp, 0.0) + count
        if title in held.get(isp, ()):
            served[isp] = served.get(isp, 0.0) + count
    all_plays = sum(total.values())
    overall = sum(served.values()) / all_plays if all_plays else 0.0
    return overall, {isp: served.get(isp, 0.0) / n for isp, n in sorted(total.items()) if n}
