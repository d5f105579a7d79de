"""Seed data: a deterministic, realistic-looking catalogue and the forecast the fill planner
starts from before any play has been counted.

Title ``t0`` is the most popular worldwide, ``t1`` the next, and so on (Zipf, s = 1); each
region's forecast rotates the ranking a little so regions do not all want the same files.
Run by the catalog at start (``CATALOG_SEED_TITLES``, 0 to skip) or by hand:

    uv run python -m catalog.seed --titles 5000
"""

import argparse
import asyncio
import random
from dataclasses import dataclass

from catalog.settings import CatalogSettings
from catalog.store import CatalogStore
from stackkit.logs import get_logger

log = get_logger(__name__)

GENRES = (
    "drama", "comedy", "thriller", "documentary", "animation", "sci-fi",
    "romance", "horror", "crime", "family", "action", "reality",
)  # fmt: skip
_ADJECTIVES = (
    "Silent", "Crimson", "Last", "Hidden", "Broken", "Golden", "Midnight", "Northern",
    "Electric", "Lost", "Wild", "Quiet", "Burning", "Frozen", "Distant", "Little",
)  # fmt: skip
_NOUNS = (
    "Harbor", "Kingdom", "Signal", "Orchard", "Detective", "Garden", "Frontier", "Empire",
    "Island", "Circus", "Protocol", "River", "Station", "Dynasty", "Letters", "Summer",
)  # fmt: skip
REGION_ROTATION = {"eu": 0, "us": 7, "apac": 19}


@dataclass(frozen=True)
class SeedTitle:
    title_id: str
    name: str
    genres: list[str]
    year: int
    duration_s: int


def title_id(rank: int) -> str:
    return f"t{rank}"


def seed_titles(count: int, seed: int = 1) -> list[SeedTitle]:
    rng = random.Random(seed)
    titles = []
    for rank in range(count):
        series = rng.random() < 0.4
        name = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
        titles.append(
            SeedTitle(
                title_id(rank),
                f"{name}: Season {rng.randint(1, 6)}" if series else name,
                sorted(rng.sample(GENRES, rng.randint(1, 3))),
                rng.randint(1960, 2026),
                rng.randint(20, 60) * 60 if series else rng.randint(80, 180) * 60,
            )
        )
    return titles


def prior_popularity(region: str, count: int) -> dict[str, float]:
    """The forecast share of a region's bytes per title (Zipf over a rotated ranking); an
    unknown region has no forecast."""
    if region not in REGION_ROTATION or count <= 0:
        return {}
    shift = REGION_ROTATION[region]
    return {title_id((rank + shift) % count): 1.0 / (rank + 1) for rank in range(count)}


async def seed_store(store: CatalogStore, count: int) -> bool:
    """Write the seed titles unless the last one is already there; True if it wrote them."""
    if count <= 0 or await store.title(title_id(count - 1)) is not None:
        return False
    rows = [(t.title_id, t.name, t.genres, t.year, t.duration_s) for t in seed_titles(count)]
    await store.put_titles(rows)
    log.info("catalog_seeded", titles=count)
    return True


async def _main(count: int) -> None:
    settings = CatalogSettings()
    store = await CatalogStore.connect(
        settings.cassandra_contact_points, settings.cassandra_keyspace, timeout_s=30
    )
    try:
        wrote = await seed_store(store, count)
        print(f"seeded {count} titles" if wrote else "already seeded")
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--titles", type=int, default=CatalogSettings().seed_titles)
    asyncio.run(_main(parser.parse_args().titles))


if __name__ == "__main__":
    main()
