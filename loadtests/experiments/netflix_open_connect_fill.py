"""Netflix: Open Connect's popularity-driven fill. The same Zipf(1) plays, counted by the
catalog, then the fill planner run with ``catalog.fill=popularity`` (each appliance holds its
region's most popular titles) and ``random`` (the same capacities, a random sample of the
catalogue): the share of plays an appliance inside the client's ISP serves, as the planner
reports it for the counted plays, and as steering sends fresh plays drawn from the same
popularity (tomorrow's viewers: the planner never counted them, so it is judged on what it
predicted, not on what it saw)."""

import asyncio
import bisect
import itertools
import random
import uuid
from typing import Any

import httpx

from loadtests.experiments.lab import Lab, total, wait_until
from loadtests.experiments.model import Check, Experiment, Findings, Scale, ratio

SIZE = {Scale.SMALL: (300, 100), Scale.FULL: (3_000, 1_000)}
"""(plays counted, plays steered per fill)."""
SEEDED_TITLES = 5000
"""The catalogue the stack seeds (``CATALOG_SEED_TITLES``' default): titles ``t0`` .. ``t4999``."""
ISPS = [("telco-eu-1", "eu"), ("telco-eu-2", "eu"), ("cable-us-1", "us"),
        ("cable-us-2", "us"), ("mobile-apac-1", "apac"), ("fibre-apac-2", "apac")]  # fmt: skip
FILLS = ("popularity", "random")
BATCH = 500  # the most plays POST /v1/plays/batch takes
CONCURRENCY = 8
DEVICE = {"codecs": "h264", "max_height": 720, "bandwidth_kbps": 3000}
_CUMULATIVE = list(itertools.accumulate(1.0 / rank for rank in range(1, SEEDED_TITLES + 1)))


def zipf_plays(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """``count`` playback starts of Zipf(1)-popular seeded titles, the ISPs taking turns."""
    tag = uuid.uuid4().hex[:8]
    plays = []
    for n in range(count):
        rank = bisect.bisect_left(_CUMULATIVE, rng.random() * _CUMULATIVE[-1])
        isp, region = ISPS[n % len(ISPS)]
        plays.append({
            "profile_id": f"oc-{tag}-{n % 97}", "title_id": f"t{rank}", "kind": "start",
            "position_s": 0, "region": region, "isp": isp, "at": "2026-03-01T20:00:00Z",
        })  # fmt: skip
    return plays


async def fill(http: httpx.AsyncClient) -> dict[str, Any]:
    """Run the planner now; its report."""
    response = await http.post("/v1/fill")
    response.raise_for_status()
    report: dict[str, Any] = response.json()
    return report


async def steered(lab: Lab, http: httpx.AsyncClient, plays: list[dict[str, Any]]) -> float:
    """Press play on each of ``plays``: the share steering sent to an appliance inside the
    client's ISP, by ``catalog_plays_total``."""

    async def counts() -> tuple[float, float]:
        samples = await lab.scrape("catalog")
        return total(samples, "catalog_plays_total", in_isp="true"), total(
            samples, "catalog_plays_total"
        )

    queue = list(plays)

    async def worker() -> None:
        while queue:
            play = queue.pop()
            params = {"isp": play["isp"], "region": play["region"], **DEVICE}
            response = await http.get(f"/v1/titles/{play['title_id']}/play", params=params)
            response.raise_for_status()

    in_isp_before, all_before = await counts()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    in_isp_after, all_after = await counts()
    return ratio(in_isp_after - in_isp_before, all_after - all_before)


async def run(lab: Lab, scale: Scale) -> Findings:
    counted, steer_count = SIZE[scale]
    plays = zipf_plays(counted, random.Random(19))
    fresh = zipf_plays(steer_count, random.Random(20))
    rows = []
    planned: dict[str, float] = {}
    served: dict[str, float] = {}

    async def popularity_again() -> None:
        # whatever happened, the fleet is left filled by popularity, as the stack had it
        await lab.flip("catalog.fill", "popularity", readers=["catalog"])
        async with httpx.AsyncClient(base_url=lab.urls["catalog"], timeout=30) as http:
            await fill(http)

    lab.on_restore(popularity_again)
    async with httpx.AsyncClient(base_url=lab.urls["catalog"], timeout=30) as http:
        before = (await fill(http))["plays_counted"]
        for start in range(0, counted, BATCH):
            response = await http.post(
                "/v1/plays/batch", json={"plays": plays[start : start + BATCH]}
            )
            response.raise_for_status()

        async def all_counted() -> bool:
            # the planner counts only when it runs: run it (with the fill in force) until it has
            return bool((await fill(http))["plays_counted"] >= before + counted)

        # the consumer counts some tens of plays a second here; each poll runs the planner,
        # so poll once a second rather than compete with it
        waited = await wait_until(
            all_counted, timeout_s=30 + counted / 15, what=f"{counted} plays counted", every_s=1.0
        )
        for choice in (*FILLS, "popularity"):
            await lab.flip("catalog.fill", choice, readers=["catalog"])
            report = await fill(http)
            share = await steered(lab, http, fresh)
            label = choice if choice not in planned else f"{choice} again"
            planned.setdefault(choice, report["in_isp_share"])
            served.setdefault(choice, share)
            rows.append({
                "catalog.fill": label, "plays counted": report["plays_counted"],
                "in-ISP share (planner)": report["in_isp_share"],
                "in-ISP share (steered)": share, "steered plays": steer_count,
                "files moved": report["added"],
            })  # fmt: skip
    return Findings(
        table=rows,
        checks=[
            Check(
                "in-ISP share popularity / random",
                ratio(planned["popularity"], planned["random"]),
                ">=",
                2.0,
                "x",
            ),
            Check(
                "steered in-ISP share popularity / random",
                ratio(served["popularity"], served["random"]),
                ">=",
                2.0,
                "x",
            ),
        ],
        setup={
            "catalogue": f"{SEEDED_TITLES} seeded titles",
            "plays": f"{counted} Zipf(1) playback starts over 6 ISPs in 3 regions, counted by "
            f"the catalog ({waited:.1f} s to count); {steer_count} fresh plays of the same "
            "popularity, never counted, pressed play per fill (steered)",
            "appliances": "2 per ISP holding 5% of the catalogue each, 1 peering per region "
            "holding 20%; the same capacities in both fills",
            "in-ISP share (planner)": "every counted play with an ISP, earlier runs' included",
        },
        bars={f"{fill} (planner)": planned[fill] for fill in FILLS}
        | {f"{fill} (steered)": served[fill] for fill in FILLS},
        bars_unit="in-ISP share",
        notes=[
            "the planner's share is in-sample (the plays it filled from); the steered share "
            "is out-of-sample. With fewer distinct titles played per ISP than an appliance holds "
            "(small scale) the planner's popularity share is 1",
            "the popularity fill blends the seed forecast with the counted plays "
            "(CATALOG_FILL_PSEUDO_PLAYS): with few plays it fills mostly from the forecast",
        ],
    )


EXPERIMENT = Experiment(
    name="netflix-open-connect-fill",
    company="Netflix",
    claim="When you press play, the video streams from a server inside your ISP's data center "
    "— not from AWS. Netflix places hardware appliances with ISPs worldwide. Each appliance "
    "stores the most popular content for that region.",
    hypothesis="With the popularity fill, the share of plays served inside the client's ISP is "
    ">= 2x that of a random fill of the same capacity, for the same plays.",
    action="catalog.fill=popularity, then random, then popularity again; the planner run each time",
    run=run,
)
