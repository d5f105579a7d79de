"""``payments.routing=single_acquirer`` in the routing decision: the configured order, always."""

import random

from payments.domain.routing import AuthorizationStats, Routing, choose_acquirer
from stackkit.flag_catalog import SPECS_BY_KEY

ACQUIRERS = ["acquirer-a", "acquirer-b", "acquirer-c"]


def test_the_routings_are_the_switch_s_choices_best_rate_first() -> None:
    assert tuple(Routing) == SPECS_BY_KEY["payments.routing"].choices
    assert SPECS_BY_KEY["payments.routing"].default == Routing.BEST_RATE


def test_single_acquirer_ignores_rates_and_exploration() -> None:
    stats = AuthorizationStats()
    for _ in range(50):
        stats.record("acquirer-a", "visa", "us", False)
        stats.record("acquirer-b", "visa", "us", True)
    rng = random.Random(1)
    picks = {
        choose_acquirer(ACQUIRERS, stats, "visa", "us", rng, exploration=1.0,
                        routing=Routing.SINGLE_ACQUIRER)
        for _ in range(100)
    }  # fmt: skip
    assert picks == {"acquirer-a"}
    assert choose_acquirer(ACQUIRERS, stats, "visa", "us", rng, exploration=0.0) == "acquirer-b"


def test_single_acquirer_retries_go_down_the_configured_order() -> None:
    stats, rng = AuthorizationStats(), random.Random(2)

    def pick(tried: set[str]) -> str | None:
        return choose_acquirer(ACQUIRERS, stats, "visa", "us", rng, exclude=frozenset(tried),
                               routing=Routing.SINGLE_ACQUIRER)  # fmt: skip

    assert pick({"acquirer-a"}) == "acquirer-b"
    assert pick({"acquirer-a", "acquirer-b"}) == "acquirer-c"
    assert pick(set(ACQUIRERS)) is None
