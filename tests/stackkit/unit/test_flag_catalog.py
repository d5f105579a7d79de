"""The flag catalog: every flag's code default, how the file's answers become the values in
force (missing -> default, wrong -> last good, unsafe in production -> safe default)."""

import pytest

from stackkit.fault_plan import NO_FAULT, FaultConfig
from stackkit.flag_catalog import (
    ABSENT,
    DEFAULT_VALUES,
    FAULT_SITES,
    FLAG_SPECS,
    SPECS_BY_KEY,
    UNSAFE_IN_PRODUCTION,
    Evaluated,
    FlagChange,
    FlagKind,
    armed_faults,
    fault_key,
    render,
    resolve,
    with_default_variant,
)

TODAY = {
    "catalog.cache": "two_zones",
    "catalog.fill": "popularity",
    "dispatch.search": "h3_rings",
    "chat.fanout": "per_gateway_batch",
    "payments.idempotency": "enforced",
    "payments.smartRetries": "on",
    "payments.routing": "best_rate",
    "edge.tieredCache": "on",
    "edge.coalescing": "on",
    "edge.configPush": "kafka_push",
}
"""Each design switch's default: the seed's decision, what the code does today."""

NAMED_FAULTS = (
    "catalog.cacheZoneADown",
    "chat.fanoutStall",
    "edge.upperTierDown",
    "payments.acquirerTimeouts",
)


def test_the_catalog_has_every_flag_the_issue_names_once() -> None:
    keys = [spec.key for spec in FLAG_SPECS]
    assert len(keys) == len(set(keys))
    assert set(keys) == {
        *(f"fault.{site}" for site in FAULT_SITES),
        *NAMED_FAULTS,
        *TODAY,
    }
    assert FAULT_SITES == (
        "redis",
        "postgres",
        "kafka.produce",
        "cassandra",
        "acquirer",
        "origin",
        "gateway.write",
    )


def test_every_default_is_todays_behaviour() -> None:
    for site in FAULT_SITES:
        assert DEFAULT_VALUES[fault_key(site)] == NO_FAULT
    for key in NAMED_FAULTS:
        assert DEFAULT_VALUES[key] is False
    for key, choice in TODAY.items():
        assert DEFAULT_VALUES[key] == choice
        assert SPECS_BY_KEY[key].choices[0] == choice


def test_the_choices_of_each_switch() -> None:
    assert {key: SPECS_BY_KEY[key].choices for key in TODAY} == {
        "catalog.cache": ("two_zones", "one_zone", "off"),
        "catalog.fill": ("popularity", "random"),
        "dispatch.search": ("h3_rings", "geosearch", "full_scan"),
        "chat.fanout": ("per_gateway_batch", "per_member"),
        "payments.idempotency": ("enforced", "ignored"),
        "payments.smartRetries": ("on", "off"),
        "payments.routing": ("best_rate", "single_acquirer"),
        "edge.tieredCache": ("on", "off"),
        "edge.coalescing": ("on", "off"),
        "edge.configPush": ("kafka_push", "log_polling"),
    }


def test_unsafe_choices_are_real_choices_and_never_a_default() -> None:
    assert {"payments.idempotency": frozenset({"ignored"})} == UNSAFE_IN_PRODUCTION
    for key, unsafe in UNSAFE_IN_PRODUCTION.items():
        spec = SPECS_BY_KEY[key]
        assert spec.kind is FlagKind.SWITCH
        assert unsafe <= set(spec.choices)
        assert spec.default not in unsafe


# -- checking one answer ------------------------------------------------------------------------


def test_a_site_fault_answer_is_a_fault_config() -> None:
    spec = SPECS_BY_KEY["fault.redis"]
    assert spec.check({"error_rate": 0.5}) == FaultConfig(error_rate=0.5)
    with pytest.raises(ValueError, match="unknown fault field"):
        spec.check({"rate": 0.5})


def test_a_named_fault_answer_is_a_boolean() -> None:
    spec = SPECS_BY_KEY["chat.fanoutStall"]
    assert spec.check(True) is True
    assert spec.check(False) is False
    wrong: object
    for wrong in ("on", 1, None, {}):
        with pytest.raises(ValueError, match="true or false"):
            spec.check(wrong)


def test_a_switch_answer_is_one_of_its_choices() -> None:
    spec = SPECS_BY_KEY["dispatch.search"]
    assert spec.check("full_scan") == "full_scan"
    for wrong in ("bogus", "H3_RINGS", 3, None, True):
        with pytest.raises(ValueError, match="one of h3_rings, geosearch, full_scan"):
            spec.check(wrong)


# -- resolving a whole evaluation ----------------------------------------------------------------


def test_nothing_evaluated_means_every_code_default() -> None:
    resolution = resolve({}, DEFAULT_VALUES, production=False)
    assert resolution.values == DEFAULT_VALUES
    assert resolution.changes == ()
    assert resolution.problems == resolution.refused == ()


def test_answers_from_the_file_take_effect_and_are_reported_as_changes() -> None:
    evaluated = {
        "fault.redis": Evaluated({"latency_ms": 200}),
        "dispatch.search": Evaluated("geosearch"),
        "chat.fanoutStall": Evaluated(True),
        "catalog.cache": Evaluated("two_zones"),  # the same as before: no change
    }
    resolution = resolve(evaluated, DEFAULT_VALUES, production=False)
    assert resolution.values["fault.redis"] == FaultConfig(latency_ms=200)
    assert resolution.values["dispatch.search"] == "geosearch"
    assert resolution.values["chat.fanoutStall"] is True
    assert set(resolution.changes) == {
        FlagChange("fault.redis", NO_FAULT, FaultConfig(latency_ms=200)),
        FlagChange("dispatch.search", "h3_rings", "geosearch"),
        FlagChange("chat.fanoutStall", False, True),
    }
    assert resolution.problems == ()


def test_a_flag_gone_from_the_file_goes_back_to_its_default() -> None:
    previous = {**DEFAULT_VALUES, "dispatch.search": "full_scan"}
    resolution = resolve({"dispatch.search": ABSENT}, previous, production=False)
    assert resolution.values["dispatch.search"] == "h3_rings"
    assert resolution.changes == (FlagChange("dispatch.search", "full_scan", "h3_rings"),)


def test_a_wrong_answer_keeps_the_last_good_value_and_says_why() -> None:
    previous = {**DEFAULT_VALUES, "fault.postgres": FaultConfig(error_rate=1.0)}
    evaluated = {
        "fault.postgres": Evaluated({"error_rate": 7}),
        "dispatch.search": Evaluated("sideways"),
        "chat.fanoutStall": Evaluated(error="TYPE_MISMATCH: Expected type bool but got str"),
        "edge.coalescing": Evaluated("off"),
    }
    resolution = resolve(evaluated, previous, production=False)
    assert resolution.values["fault.postgres"] == FaultConfig(error_rate=1.0)
    assert resolution.values["dispatch.search"] == "h3_rings"
    assert resolution.values["chat.fanoutStall"] is False
    assert resolution.values["edge.coalescing"] == "off"  # the good answers still apply
    assert resolution.changes == (FlagChange("edge.coalescing", "on", "off"),)
    assert resolution.problems == (
        "fault.postgres: error_rate is a fraction from 0 to 1: got 7.0",
        "chat.fanoutStall: TYPE_MISMATCH: Expected type bool but got str",
        "dispatch.search: dispatch.search is one of h3_rings, geosearch, full_scan: got 'sideways'",
    )


def test_a_previous_missing_a_flag_counts_from_its_default() -> None:
    resolution = resolve({"edge.coalescing": Evaluated("off")}, {}, production=False)
    assert resolution.changes == (FlagChange("edge.coalescing", "on", "off"),)
    assert resolution.values == {**DEFAULT_VALUES, "edge.coalescing": "off"}


def test_development_runs_the_unsafe_switch() -> None:
    resolution = resolve(
        {"payments.idempotency": Evaluated("ignored")}, DEFAULT_VALUES, production=False
    )
    assert resolution.values["payments.idempotency"] == "ignored"
    assert resolution.refused == ()


def test_production_refuses_the_unsafe_switch_and_answers_the_safe_default() -> None:
    resolution = resolve(
        {"payments.idempotency": Evaluated("ignored"), "edge.coalescing": Evaluated("off")},
        DEFAULT_VALUES,
        production=True,
    )
    assert resolution.values["payments.idempotency"] == "enforced"
    assert resolution.refused == ("payments.idempotency=ignored",)
    assert resolution.changes == (FlagChange("edge.coalescing", "on", "off"),)  # safe ones apply
    assert resolution.problems == ()


def test_going_to_production_turns_a_running_unsafe_switch_back() -> None:
    previous = {**DEFAULT_VALUES, "payments.idempotency": "ignored"}
    resolution = resolve({"payments.idempotency": Evaluated("ignored")}, previous, production=True)
    assert resolution.changes == (FlagChange("payments.idempotency", "ignored", "enforced"),)


def test_armed_faults_lists_only_sites_with_a_fault() -> None:
    values = {
        **DEFAULT_VALUES,
        "fault.redis": FaultConfig(hang=True),
        "fault.origin": FaultConfig(error_rate=0.1),
        "fault.postgres": FaultConfig(),
    }
    assert armed_faults(values) == {
        "redis": FaultConfig(hang=True),
        "origin": FaultConfig(error_rate=0.1),
    }
    assert armed_faults(DEFAULT_VALUES) == {}


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (NO_FAULT, "off"),
        (FaultConfig(latency_ms=5), "latency_ms=5"),
        (True, "on"),
        (False, "off"),
        ("geosearch", "geosearch"),
    ],
)
def test_render(value: object, text: str) -> None:
    assert render(value) == text  # type: ignore[arg-type]


# -- flipping a flag in a document ---------------------------------------------------------------

DOCUMENT = {
    "$schema": "https://flagd.dev/schema/v0/flags.json",
    "flags": {
        "edge.coalescing": {
            "state": "ENABLED",
            "variants": {"on": "on", "off": "off"},
            "defaultVariant": "on",
        }
    },
}


def test_with_default_variant_flips_a_copy() -> None:
    flipped = with_default_variant(DOCUMENT, "edge.coalescing", "off")
    assert flipped["flags"]["edge.coalescing"]["defaultVariant"] == "off"  # type: ignore[index]
    assert flipped["$schema"] == DOCUMENT["$schema"]
    assert DOCUMENT["flags"]["edge.coalescing"]["defaultVariant"] == "on"  # type: ignore[index]


def test_with_default_variant_refuses_unknown_flags_and_variants() -> None:
    with pytest.raises(ValueError, match=r"no flag 'edge\.nothing'"):
        with_default_variant(DOCUMENT, "edge.nothing", "on")
    with pytest.raises(ValueError, match=r"no variant 'sideways' \(variants: off, on\)"):
        with_default_variant(DOCUMENT, "edge.coalescing", "sideways")
    with pytest.raises(ValueError, match="no flag"):
        with_default_variant({"flags": []}, "edge.coalescing", "on")
