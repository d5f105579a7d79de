"""The fault decision: what a fault config does to one call, draw by draw."""

import math
import random
import re

import pytest

from stackkit.fault_plan import (
    MAX_DELAY_MS,
    NO_FAULT,
    PROCEED,
    FaultConfig,
    FaultOutcome,
    InvalidFault,
    decide,
)


class ScriptedRandom:
    """Answers the given draws in order; a draw nobody scripted fails the test."""

    def __init__(self, *draws: float) -> None:
        self._draws = list(draws)

    def random(self) -> float:
        assert self._draws, "decide() drew more often than the test expected"
        return self._draws.pop(0)

    @property
    def unused(self) -> int:
        return len(self._draws)


# -- parsing a flag's object ------------------------------------------------------------------


def test_an_empty_object_is_no_fault() -> None:
    assert FaultConfig.from_flag({}) == NO_FAULT
    assert not NO_FAULT.armed


def test_every_field_is_read() -> None:
    config = FaultConfig.from_flag(
        {"latency_ms": 200, "jitter_ms": 50.5, "error_rate": 0.25, "hang": False}
    )
    assert config == FaultConfig(latency_ms=200.0, jitter_ms=50.5, error_rate=0.25, hang=False)
    assert isinstance(config.latency_ms, float)


@pytest.mark.parametrize(
    "raw",
    [{"latency_ms": 1}, {"jitter_ms": 1}, {"error_rate": 0.01}, {"hang": True}],
    ids=["latency", "jitter", "errors", "hang"],
)
def test_any_field_set_arms_the_site(raw: dict[str, object]) -> None:
    assert FaultConfig.from_flag(raw).armed


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        (None, "is an object"),
        ([1, 2], "is an object"),
        ("slow", "is an object"),
        ({"latency": 200}, "unknown fault field(s) latency"),
        ({"latency_ms": 1, "rate": 0.1, "delay": 3}, "unknown fault field(s) delay, rate"),
        ({"latency_ms": "200"}, "latency_ms is a number"),
        ({"latency_ms": True}, "latency_ms is a number"),
        ({"latency_ms": None}, "latency_ms is a number"),
        ({"latency_ms": -1}, "at least 0"),
        ({"jitter_ms": -0.5}, "at least 0"),
        ({"error_rate": -0.1}, "at least 0"),
        ({"latency_ms": math.nan}, "finite"),
        ({"latency_ms": math.inf}, "finite"),
        ({"error_rate": 1.01}, "fraction from 0 to 1"),
        ({"error_rate": 2}, "fraction from 0 to 1"),
        ({"hang": 1}, "hang is true or false"),
        ({"hang": "yes"}, "hang is true or false"),
        ({"latency_ms": MAX_DELAY_MS, "jitter_ms": 1}, "use hang"),
    ],
)
def test_what_cannot_be_a_fault_says_why(raw: object, complaint: str) -> None:
    with pytest.raises(InvalidFault, match=re.escape(complaint)):
        FaultConfig.from_flag(raw)


def test_the_longest_delay_is_allowed() -> None:
    assert FaultConfig.from_flag({"latency_ms": MAX_DELAY_MS}).latency_ms == MAX_DELAY_MS


def test_an_invalid_fault_is_a_value_error() -> None:
    # Callers that check any flag value catch ValueError; a fault's complaint is one.
    assert issubclass(InvalidFault, ValueError)


@pytest.mark.parametrize(
    ("config", "text"),
    [
        (NO_FAULT, "off"),
        (FaultConfig(hang=True, latency_ms=5), "hang"),
        (FaultConfig(latency_ms=200, jitter_ms=50), "latency_ms=200 jitter_ms=50"),
        (FaultConfig(error_rate=0.2), "error_rate=0.2"),
        (FaultConfig(latency_ms=2.5, error_rate=1), "latency_ms=2.5 error_rate=1"),
    ],
)
def test_describe(config: FaultConfig, text: str) -> None:
    assert config.describe() == text


# -- deciding one call --------------------------------------------------------------------------


def test_no_fault_proceeds_without_a_draw() -> None:
    assert decide(NO_FAULT, ScriptedRandom()) == PROCEED


def test_a_hang_wins_and_draws_nothing() -> None:
    config = FaultConfig(latency_ms=100, jitter_ms=10, error_rate=1.0, hang=True)
    assert decide(config, ScriptedRandom()) == FaultOutcome(hang=True)


def test_plain_latency_is_exact_and_draws_nothing() -> None:
    assert decide(FaultConfig(latency_ms=250), ScriptedRandom()) == FaultOutcome(delay_s=0.25)


@pytest.mark.parametrize(
    ("draw", "delay_s"),
    [(0.0, 0.15), (0.5, 0.2), (0.75, 0.225), (0.999999, 0.24999995)],
)
def test_jitter_spreads_the_delay_either_side(draw: float, delay_s: float) -> None:
    outcome = decide(FaultConfig(latency_ms=200, jitter_ms=50), ScriptedRandom(draw))
    assert outcome.delay_s == pytest.approx(delay_s)
    assert not outcome.fail and not outcome.hang


def test_jitter_never_makes_a_negative_delay() -> None:
    outcome = decide(FaultConfig(latency_ms=10, jitter_ms=100), ScriptedRandom(0.0))
    assert outcome.delay_s == 0.0


def test_jitter_alone_delays_up_to_its_size() -> None:
    assert decide(FaultConfig(jitter_ms=100), ScriptedRandom(1.0 - 1e-9)).delay_s == (
        pytest.approx(0.1)
    )


@pytest.mark.parametrize(
    ("draw", "fails"), [(0.0, True), (0.299, True), (0.3, False), (0.9, False)]
)
def test_an_error_rate_fails_a_draw_below_it(draw: float, fails: bool) -> None:
    outcome = decide(FaultConfig(error_rate=0.3), ScriptedRandom(draw))
    assert outcome == FaultOutcome(delay_s=0.0, fail=fails)


def test_an_error_rate_of_one_always_fails_without_a_draw() -> None:
    assert decide(FaultConfig(error_rate=1.0), ScriptedRandom()) == FaultOutcome(fail=True)


def test_a_slow_failure_waits_then_fails() -> None:
    # Jitter is drawn first, then the error: a seeded source replays both.
    source = ScriptedRandom(1.0 - 1e-9, 0.1)
    outcome = decide(FaultConfig(latency_ms=100, jitter_ms=20, error_rate=0.5), source)
    assert outcome.fail and outcome.delay_s == pytest.approx(0.12)
    assert source.unused == 0


def test_the_same_seed_gives_the_same_fates() -> None:
    config = FaultConfig(latency_ms=50, jitter_ms=50, error_rate=0.4)
    first = [decide(config, rng) for rng in [random.Random(7)] for _ in range(200)]
    again = [decide(config, rng) for rng in [random.Random(7)] for _ in range(200)]
    assert first == again


def test_the_error_rate_holds_over_many_calls() -> None:
    rng = random.Random(1)
    failures = sum(decide(FaultConfig(error_rate=0.2), rng).fail for _ in range(20_000))
    assert 0.18 < failures / 20_000 < 0.22


def test_jittered_delays_stay_in_their_window() -> None:
    rng = random.Random(2)
    delays = [decide(FaultConfig(latency_ms=100, jitter_ms=30), rng).delay_s for _ in range(5000)]
    assert min(delays) >= 0.07 and max(delays) < 0.13
    assert sum(delays) / len(delays) == pytest.approx(0.1, abs=0.002)
