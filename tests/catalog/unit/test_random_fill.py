"""The random fill (``catalog.fill=random``): the popularity fill's baseline, the same capacity
filled with a seeded sample of the catalogue."""

from hypothesis import given
from hypothesis import strategies as st

from catalog.domain.fill import isp_hit_share, plan_fleet, plan_random_fill, plan_random_fleet
from catalog.domain.fleet import Appliance
from catalog.seed import prior_popularity, title_id
from catalog.topology import default_topology

CATALOGUE = [title_id(rank) for rank in range(1000)]


def appliance(
    id_: str = "oca-a-1", capacity: int = 50, files: frozenset[str] = frozenset()
) -> Appliance:
    return Appliance(id_, "isp", "a", "eu", f"http://{id_}", files=files, capacity_files=capacity)


@given(
    capacity=st.integers(min_value=0, max_value=120),
    size=st.integers(min_value=0, max_value=100),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_the_random_fill_fills_the_capacity_with_titles_of_the_catalogue(
    capacity: int, size: int, seed: int
) -> None:
    catalogue = CATALOGUE[:size]
    held = frozenset({"t3", "gone-from-the-catalogue"})
    plan = plan_random_fill(appliance(capacity=capacity, files=held), catalogue, seed)
    assert len(plan.contents) == min(capacity, size)
    assert plan.contents <= set(catalogue)
    assert plan.keep == plan.contents & held and plan.add == plan.contents - held
    assert plan.evict == held - plan.contents and "gone-from-the-catalogue" in plan.evict


def test_the_same_seed_gives_the_same_sample_another_seed_another() -> None:
    a = appliance()
    first = plan_random_fill(a, CATALOGUE, seed=1)
    assert plan_random_fill(a, CATALOGUE, seed=1) == first
    assert plan_random_fill(a, CATALOGUE, seed=2).contents != first.contents
    other = plan_random_fill(appliance("oca-a-2"), CATALOGUE, seed=1)
    assert other.contents != first.contents, "two appliances of one ISP hold different samples"


def test_a_title_listed_twice_is_one_file() -> None:
    plan = plan_random_fill(appliance(capacity=5), ["t1", "t1", "t2", "t2", "t3"], seed=0)
    assert plan.contents == {"t1", "t2", "t3"}


def test_the_random_sample_is_blind_to_popularity() -> None:
    # Over many seeds each title is held about capacity / catalogue of the time, the head no
    # more often than the tail: what makes it the baseline of the popularity fill.
    head, tail = set(CATALOGUE[:100]), set(CATALOGUE[-100:])
    in_head = in_tail = 0
    for seed in range(200):
        contents = plan_random_fill(appliance(capacity=100), CATALOGUE, seed).contents
        in_head += len(contents & head)
        in_tail += len(contents & tail)
    expected = 200 * 100 * 100 / len(CATALOGUE)  # 2000
    assert 0.8 * expected < in_head < 1.2 * expected
    assert 0.8 * expected < in_tail < 1.2 * expected


def test_zipf_plays_are_served_in_isp_far_less_often_by_a_random_fill() -> None:
    fleet = default_topology(len(CATALOGUE))
    # Zipf(1) plays over the eu forecast's ranking, from both eu ISPs
    plays = [
        (isp, title, 1000 * share)
        for isp in ("telco-eu-1", "telco-eu-2")
        for title, share in prior_popularity("eu", len(CATALOGUE)).items()
    ]
    predicted = {"eu": prior_popularity("eu", len(CATALOGUE))}
    popular, _ = isp_hit_share(plays, fleet.values(), plan_fleet(fleet.values(), predicted))
    random_share, _ = isp_hit_share(
        plays, fleet.values(), plan_random_fleet(fleet.values(), CATALOGUE, seed=1)
    )
    assert random_share < 0.2 < 0.5 < popular
    assert popular >= 2 * random_share
