"""The pure parts of the experiments: checks, verdicts, quantiles, histograms, reports."""

import json
import math
from pathlib import Path

import pytest

from loadtests.experiments.model import (
    Check,
    Experiment,
    Findings,
    Outcome,
    Result,
    Scale,
    Series,
    bucket_delta,
    histogram_quantile,
    quantile,
    ratio,
    verdict,
)
from loadtests.experiments.report import markdown, write_result, write_summary


def test_a_check_holds_by_its_comparison_and_says_its_margin() -> None:
    assert Check("fetches", 1, "<=", 1).holds
    assert not Check("fetches", 2, "<=", 1).holds
    assert Check("ratio", 3.0, ">=", 2.0, "x").margin == "+50%"
    assert Check("p99", 4.0, "<", 5.0).margin == "+20%"
    assert Check("p99", 6.0, "<", 5.0).margin == "-20%"
    assert not Check("nothing", math.nan, ">=", 1).holds
    assert "fails" in Check("fetches", 2, "<=", 1).describe()


def test_the_verdict_follows_every_check_and_refuses_an_unmeasured_one() -> None:
    holding, failing = Check("a", 1, ">=", 1), Check("b", 0, ">", 0)
    assert verdict([holding])[0] is Outcome.CONFIRMED
    outcome, reason = verdict([holding, failing])
    assert outcome is Outcome.NOT_CONFIRMED and reason.startswith("b:")
    assert verdict([Check("c", math.nan, ">", 0)])[0] is Outcome.ERROR
    assert verdict([])[0] is Outcome.ERROR


def test_quantiles_and_ratios() -> None:
    assert quantile([3, 1, 2, 4], 0.5) == 2
    assert quantile(list(range(1, 101)), 0.99) == 99
    assert math.isnan(quantile([], 0.5))
    assert ratio(6, 3) == 2 and math.isnan(ratio(1, 0))


def test_histogram_quantile_interpolates_as_promql_does() -> None:
    before = [(0.001, 0.0), (0.005, 0.0), (math.inf, 0.0)]
    after = [(0.001, 50.0), (0.005, 100.0), (math.inf, 100.0)]
    served = bucket_delta(after, before)
    assert histogram_quantile(0.5, served) == pytest.approx(0.001)
    assert histogram_quantile(0.75, served) == pytest.approx(0.003)
    assert histogram_quantile(0.99, [(0.001, 0.0), (math.inf, 10.0)]) == 0.001
    assert math.isnan(histogram_quantile(0.5, [(0.001, 0.0), (math.inf, 0.0)]))


async def _never(lab: object, scale: Scale) -> Findings:
    raise AssertionError("not run")


def result(outcome: Outcome, findings: Findings | None) -> Result:
    experiment = Experiment("demo", "Demo", "a claim", "a hypothesis", "an action", _never)
    reason = verdict(findings.checks)[1] if findings else "boom"
    return Result(experiment, Scale.SMALL, outcome, reason, findings, "2026-12-03T00:00:00+00:00",
                  1.5, {"cpus": 2, "platform": "Linux", "python": "3.11"})  # fmt: skip


def test_a_report_is_written_as_markdown_json_and_a_plot(tmp_path: Path) -> None:
    findings = Findings(
        table=[{"mode": "on", "fetches": 1}, {"mode": "off", "fetches": 50}],
        checks=[Check("fetches on", 1, "<=", 1)],
        setup={"PoP": "pop-1"},
        series=[Series("latency", [(0.0, 1.0), (1.0, 2.0)], "ms")],
    )
    md, js, png = write_result(result(Outcome.CONFIRMED, findings), tmp_path)
    document = json.loads(js.read_text())
    assert document["outcome"] == "CONFIRMED" and document["checks"][0]["holds"] is True
    assert document["table"][1] == {"mode": "off", "fetches": 50}
    text = md.read_text()
    assert "> a claim" in text and "| off | 50 |" in text and "![demo](demo.png)" in text
    assert png is not None and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = write_summary([result(Outcome.CONFIRMED, findings)], tmp_path).read_text()
    assert "| [demo](demo.md) | CONFIRMED | fetches on: 1 <= 1" in summary


def test_an_experiment_that_failed_reports_its_error_without_figures(tmp_path: Path) -> None:
    md, js, png = write_result(result(Outcome.ERROR, None), tmp_path)
    assert png is None and json.loads(js.read_text())["reason"] == "boom"
    assert "**Verdict: ERROR.** boom" in md.read_text()
    assert markdown(json.loads(js.read_text())) == md.read_text()
