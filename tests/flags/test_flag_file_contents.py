"""infra/flags/flags.flagd.json is a valid flagd flag file (checked by hand against flagd's
schema and by the provider's own parser), it holds every flag of the catalog and nothing else,
and every flag's defaultVariant answers today's behaviour: the code default."""

import json
from pathlib import Path
from typing import Any

import pytest
from openfeature.contrib.tools.flagd.core import FlagdCore

from stackkit.fault_plan import FaultConfig
from stackkit.flag_catalog import DEFAULT_VALUES, FLAG_SPECS, SPECS_BY_KEY, FlagKind

FLAG_FILE = Path(__file__).parents[2] / "infra" / "flags" / "flags.flagd.json"
SCHEMA = "https://flagd.dev/schema/v0/flags.json"
TOP_LEVEL = {"$schema", "flags", "metadata", "$evaluators"}
"""flagd's top-level keys."""
FLAG_FIELDS = {"state", "variants", "defaultVariant", "targeting", "metadata"}
"""What a flag may hold. flagd's Go server tolerates more (the OpenTelemetry Demo's file has a
``description``), but the Python provider refuses any other key: descriptions go in metadata."""


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded = json.loads(FLAG_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _variant_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dict):
        return "object"
    raise AssertionError(f"a variant value flagd cannot hold: {value!r}")


def test_the_file_has_flagds_shape(document: dict[str, Any]) -> None:
    assert set(document) <= TOP_LEVEL
    assert document["$schema"] == SCHEMA
    assert isinstance(document["flags"], dict) and document["flags"]
    for key, flag in document["flags"].items():
        assert isinstance(flag, dict), key
        assert set(flag) <= FLAG_FIELDS, f"{key}: {set(flag) - FLAG_FIELDS}"
        assert flag["state"] in ("ENABLED", "DISABLED"), key
        variants = flag["variants"]
        assert isinstance(variants, dict) and variants, key
        assert all(isinstance(name, str) and name for name in variants), key
        # flagd evaluates a flag as one type: every variant of it has that type.
        assert len({_variant_type(value) for value in variants.values()}) == 1, key
        assert flag["defaultVariant"] in variants, key
        metadata = flag.get("metadata", {})
        assert all(isinstance(value, str | int | float | bool) for value in metadata.values())
        assert isinstance(metadata.get("description"), str), f"{key} says what it does"


def test_the_providers_parser_accepts_it_and_answers_every_flag() -> None:
    core = FlagdCore()
    core.set_flags(FLAG_FILE.read_text())
    for spec in FLAG_SPECS:
        if spec.kind is FlagKind.SITE_FAULT:
            details: Any = core.resolve_object_value(spec.key, {})
        elif spec.kind is FlagKind.NAMED_FAULT:
            details = core.resolve_boolean_value(spec.key, True)
        else:
            details = core.resolve_string_value(spec.key, "not-the-default")
        assert details.error_code is None, spec.key
        assert spec.check(details.value) == spec.default, spec.key


def test_it_holds_exactly_the_catalogs_flags(document: dict[str, Any]) -> None:
    assert set(document["flags"]) == set(SPECS_BY_KEY)


def test_every_default_is_the_code_default(document: dict[str, Any]) -> None:
    for key, flag in document["flags"].items():
        answer = flag["variants"][flag["defaultVariant"]]
        assert flag["state"] == "ENABLED", key
        assert "targeting" not in flag, f"{key}: a default must not depend on who asks"
        assert SPECS_BY_KEY[key].check(answer) == DEFAULT_VALUES[key], key


def test_every_variant_is_a_value_the_stack_accepts(document: dict[str, Any]) -> None:
    for key, flag in document["flags"].items():
        for name, variant in flag["variants"].items():
            SPECS_BY_KEY[key].check(variant)  # raises for a variant the stack would refuse
            if SPECS_BY_KEY[key].kind is FlagKind.SWITCH:
                assert name == variant, f"{key}: a switch's variant is named for its choice"


def test_each_switch_offers_all_its_choices(document: dict[str, Any]) -> None:
    for spec in FLAG_SPECS:
        variants = document["flags"][spec.key]["variants"]
        if spec.kind is FlagKind.SWITCH:
            assert tuple(variants) == spec.choices, spec.key
        elif spec.kind is FlagKind.NAMED_FAULT:
            assert variants == {"off": False, "on": True}, spec.key


def test_each_site_fault_offers_off_slow_flaky_down_and_hang(document: dict[str, Any]) -> None:
    for spec in FLAG_SPECS:
        if spec.kind is not FlagKind.SITE_FAULT:
            continue
        variants = {
            name: FaultConfig.from_flag(value)
            for name, value in document["flags"][spec.key]["variants"].items()
        }
        assert {"off", "slow", "flaky", "down", "hang"} <= set(variants), spec.key
        assert not variants["off"].armed
        assert variants["slow"].latency_ms > 0 and variants["slow"].error_rate == 0
        assert 0 < variants["flaky"].error_rate < 1
        assert variants["down"].error_rate == 1
        assert variants["hang"].hang
