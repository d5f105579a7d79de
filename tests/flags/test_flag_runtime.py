"""The process's flags from a real flag file through OpenFeature and the flagd provider's file
resolver: a flip takes effect within a second and is logged and counted; a malformed file keeps
the last good flags and says so; production refuses the unsafe switch; no configuration at all
means every code default."""

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from structlog.testing import capture_logs

from stackkit import flags
from stackkit.fault_plan import FaultConfig
from stackkit.faults import FaultInjected, inject
from stackkit.flag_catalog import DEFAULT_VALUES
from stackkit.flag_file import read_flag_file
from stackkit.flags import ARMED_FAULTS, register_flag_metrics
from tests.flags.running import (
    FlagFile,
    running_flags,
    use_flag_file,
    within_a_flip,
)


@pytest.fixture
def registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    register_flag_metrics(registry)
    return registry


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def test_no_provider_configured_means_every_code_default(
    monkeypatch: pytest.MonkeyPatch, registry: CollectorRegistry
) -> None:
    for name in ("FLAGD_OFFLINE_FLAG_SOURCE_PATH", "FLAGD_RESOLVER", "FLAGD_HOST"):
        monkeypatch.delenv(name, raising=False)
    flags.start_flags(production=False)
    try:
        assert await flags.wait_for_flags(timeout_s=0.1)
        state = flags.status()
        assert state.source == "code defaults" and state.valid and state.error is None
        assert flags.choice("dispatch.search") == "h3_rings"
        assert flags.is_on("catalog.cacheZoneADown") is False
        assert flags.fault("redis") == FaultConfig()
        assert ARMED_FAULTS == {}
        assert _sample(registry, "flags_file_valid") == 1
    finally:
        flags.stop_flags(production=False)


async def test_a_switch_flip_lands_within_a_second_and_is_logged_and_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: CollectorRegistry
) -> None:
    async with running_flags(tmp_path, monkeypatch) as file:
        before = _sample(registry, "flag_changes_total", flag="dispatch.search")
        with capture_logs() as logs:
            file.set("dispatch.search", "full_scan")

            async def flipped() -> bool:
                return flags.choice("dispatch.search") == "full_scan"

            await within_a_flip(flipped, "dispatch.search=full_scan")
            file.restore()

            async def restored() -> bool:
                return flags.choice("dispatch.search") == "h3_rings"

            await within_a_flip(restored, "dispatch.search back to h3_rings")
        changes = [entry for entry in logs if entry["event"] == "flag_changed"]
        assert [(e["flag"], e["from"], e["to"]) for e in changes] == [
            ("dispatch.search", "h3_rings", "full_scan"),
            ("dispatch.search", "full_scan", "h3_rings"),
        ]
        assert _sample(registry, "flag_changes_total", flag="dispatch.search") == before + 2
        assert flags.status().values["dispatch.search"] == "h3_rings"


async def test_a_fault_flip_arms_its_site_and_the_flip_back_disarms_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_flags(tmp_path, monkeypatch) as file:
        file.set("fault.cassandra", "slow")

        async def armed() -> bool:
            return "cassandra" in ARMED_FAULTS

        await within_a_flip(armed, "fault.cassandra=slow")
        assert flags.fault("cassandra") == FaultConfig(latency_ms=200, jitter_ms=50)
        assert flags.status().values["fault.cassandra"] == "latency_ms=200 jitter_ms=50"
        file.set("fault.cassandra", "off")

        async def disarmed() -> bool:
            return "cassandra" not in ARMED_FAULTS

        await within_a_flip(disarmed, "fault.cassandra=off")


async def test_a_named_fault_flips_on_and_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_flags(tmp_path, monkeypatch) as file:
        file.set("chat.fanoutStall", "on")

        async def on() -> bool:
            return flags.is_on("chat.fanoutStall")

        await within_a_flip(on, "chat.fanoutStall=on")
        file.set("chat.fanoutStall", "off")

        async def off() -> bool:
            return not flags.is_on("chat.fanoutStall")

        await within_a_flip(off, "chat.fanoutStall=off")


async def _becomes_invalid(registry: CollectorRegistry) -> None:
    async def invalid() -> bool:
        return not flags.status().valid

    await within_a_flip(invalid, "the flags to read as invalid")
    assert _sample(registry, "flags_file_valid") == 0


async def _becomes_valid(registry: CollectorRegistry) -> None:
    async def valid() -> bool:
        return flags.status().valid

    await within_a_flip(valid, "the flags to read as valid again")
    assert _sample(registry, "flags_file_valid") == 1
    assert flags.status().error is None


def _not_json(document: dict[str, Any]) -> str:
    return json.dumps(document)[:40]


def _not_flagd(document: dict[str, Any]) -> str:
    """Valid JSON that flagd's parser refuses: a state that does not exist."""
    document["flags"]["edge.coalescing"]["state"] = "MAYBE"
    return json.dumps(document)


def _not_a_choice(document: dict[str, Any]) -> str:
    """Valid flagd, but dispatch.search answers a value the stack refuses."""
    flag = document["flags"]["dispatch.search"]
    flag["variants"]["sideways"] = "sideways"
    flag["defaultVariant"] = "sideways"
    return json.dumps(document)


@pytest.mark.parametrize(
    ("broken", "complaint"),
    [
        (_not_json, "Could not parse JSON"),
        (_not_flagd, "flagd syntax"),
        (_not_a_choice, "dispatch.search is one of"),
    ],
    ids=["not-json", "not-flagd", "not-a-choice"],
)
async def test_a_malformed_file_keeps_the_last_good_flags_and_says_so(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    registry: CollectorRegistry,
    broken: Callable[[dict[str, Any]], str],
    complaint: str,
) -> None:
    async with running_flags(tmp_path, monkeypatch) as file:
        file.set("fault.origin", "flaky")  # a fault in force must survive a broken edit

        async def armed() -> bool:
            return "origin" in ARMED_FAULTS

        await within_a_flip(armed, "fault.origin=flaky")
        good = dict(flags._RUNTIME.values)
        with capture_logs() as logs:
            file.write_text(broken(read_flag_file(file.path)))
            await _becomes_invalid(registry)
        state = flags.status()
        assert state.error is not None and complaint in state.error, state.error
        assert flags._RUNTIME.values == good
        assert flags.fault("origin") == FaultConfig(error_rate=0.2)
        assert flags.choice("dispatch.search") == "h3_rings"
        invalid = [entry for entry in logs if entry["event"] == "flags_invalid"]
        assert len(invalid) >= 1 and complaint in invalid[0]["error"]
        assert invalid[0]["detail"] == "the last good flags stay in force"

        file.restore()
        await _becomes_valid(registry)
        assert "origin" not in ARMED_FAULTS  # the good file's fault.origin is off


async def test_a_file_malformed_from_the_start_answers_code_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: CollectorRegistry
) -> None:
    path = tmp_path / "flags.flagd.json"
    path.write_text("{ not json")
    use_flag_file(monkeypatch, path)
    flags.start_flags(production=False)
    try:
        assert await flags.wait_for_flags()
        await _becomes_invalid(registry)
        assert flags._RUNTIME.values == DEFAULT_VALUES
        FlagFile(path).restore()
        await _becomes_valid(registry)
    finally:
        flags.stop_flags(production=False)


async def test_production_refuses_the_unsafe_switch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_flags(tmp_path, monkeypatch, production=True) as file:
        with capture_logs() as logs:
            file.set("payments.idempotency", "ignored")
            file.set("edge.coalescing", "off")  # in the same edit a safe switch goes through

            async def refused() -> bool:
                return flags.status().refused == ("payments.idempotency=ignored",)

            await within_a_flip(refused, "the refusal of payments.idempotency=ignored")
        assert flags.choice("payments.idempotency") == "enforced"
        assert flags.choice("edge.coalescing") == "off"
        assert flags.status().valid  # a refusal is not a broken file
        refusals = [entry for entry in logs if entry["event"] == "flag_refused"]
        assert refusals == [
            {
                "event": "flag_refused",
                "log_level": "warning",
                "flag": "payments.idempotency",
                "asked": "ignored",
                "answered": "enforced",
                "reason": "unsafe in production",
            }
        ]


async def test_development_runs_the_unsafe_switch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_flags(tmp_path, monkeypatch) as file:
        file.set("payments.idempotency", "ignored")

        async def ignored() -> bool:
            return flags.choice("payments.idempotency") == "ignored"

        await within_a_flip(ignored, "payments.idempotency=ignored")
        assert flags.status().refused == ()


async def test_a_production_app_joining_refuses_a_running_unsafe_switch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_flags(tmp_path, monkeypatch) as file:
        file.set("payments.idempotency", "ignored")

        async def ignored() -> bool:
            return flags.choice("payments.idempotency") == "ignored"

        await within_a_flip(ignored, "payments.idempotency=ignored")
        flags.start_flags(production=True)  # a second app of the process, in production
        try:
            assert flags.choice("payments.idempotency") == "enforced"
        finally:
            flags.stop_flags(production=True)
        assert flags.choice("payments.idempotency") == "ignored"  # only development left


async def test_a_hung_call_waits_for_the_flip_back_and_a_timeout_cancels_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_flags(tmp_path, monkeypatch) as file:
        file.set("fault.acquirer", "hang")

        async def hanging() -> bool:
            return flags.fault("acquirer").hang

        await within_a_flip(hanging, "fault.acquirer=hang")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(inject("acquirer"), 0.2)
        call = asyncio.create_task(inject("acquirer"))
        await asyncio.sleep(0)  # let it reach its wait (no timing depends on this)
        assert not call.done()
        file.set("fault.acquirer", "down")  # the hang ends; the new fault applies

        async def ended() -> bool:
            return call.done()

        await within_a_flip(ended, "the hung call to end")
        with pytest.raises(FaultInjected, match="fault injected at acquirer"):
            call.result()


async def test_two_apps_of_one_process_share_the_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_flags(tmp_path, monkeypatch) as file:
        flags.start_flags(production=False)
        flags.stop_flags(production=False)  # the second app leaves: the first keeps its flags
        file.set("edge.tieredCache", "off")

        async def off() -> bool:
            return flags.choice("edge.tieredCache") == "off"

        await within_a_flip(off, "edge.tieredCache=off")
    # The last one out closes the provider: the code defaults are back.
    assert flags.choice("edge.tieredCache") == "on"
    assert flags.status().source == "code defaults"


def test_the_metrics_are_exposed_on_an_apps_registry(registry: CollectorRegistry) -> None:
    register_flag_metrics(registry)  # twice: no duplicate error
    text = generate_latest(registry).decode()
    assert "flags_file_valid" in text
    assert "# TYPE flag_changes_total counter" in text
    assert "# TYPE faults_injected_total counter" in text
