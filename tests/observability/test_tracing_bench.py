"""The tracing benchmark's pure parts: each mode's environment, losses against off, verdicts,
the best of several rounds; and the sink answering an exporter as a collector would."""

import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from loadtests import otlp_sink
from loadtests.tracing_bench import (
    CONFIRM_P99,
    HITS,
    MEASURES,
    MODES,
    OFF,
    best,
    loss,
    summarize,
    verdict,
)


def test_the_modes_are_off_a_tenth_and_every_trace() -> None:
    off, tenth, every = (mode.env("http://sink") for mode in MODES)
    assert off["OTEL_EXPORTER_OTLP_ENDPOINT"] == "" and "OTEL_TRACES_SAMPLER" not in off
    assert tenth == {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://sink",
                     "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                     "OTEL_TRACES_SAMPLER_ARG": "0.1"}  # fmt: skip
    assert every == {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://sink",
                     "OTEL_TRACES_SAMPLER": "parentbased_always_on"}  # fmt: skip
    assert [mode.target_loss for mode in MODES] == [None, 0.03, 0.15]


def test_loss_is_throughput_lost_or_latency_added() -> None:
    assert loss(HITS, 970, 1000) == pytest.approx(0.03)
    assert loss(CONFIRM_P99, 11.5, 10) == pytest.approx(0.15)
    assert loss(HITS, 1100, 1000) == pytest.approx(-0.1)  # better than off: noise, no cost
    with pytest.raises(ValueError):
        loss(HITS, 1, 0)


def test_verdict_is_ok_up_to_the_target() -> None:
    assert verdict(0.03, 0.03) == "ok (<= 3%)"
    assert verdict(-0.02, 0.03).startswith("ok")
    assert verdict(0.031, 0.03) == "OVER (3% allowed)"


def test_best_round_is_the_fastest() -> None:
    assert best(HITS, [900, 1000, 950]) == 1000
    assert best(CONFIRM_P99, [12.0, 10.0, 11.0]) == 10.0


def test_summary_sets_each_traced_mode_beside_off() -> None:
    rounds: dict[str, dict[str, list[float]]] = {
        OFF.name: {HITS.name: [1000, 900], "confirm p50 ms": [5.0], CONFIRM_P99.name: [20.0]},
        MODES[1].name: {HITS.name: [980], "confirm p50 ms": [5.1], CONFIRM_P99.name: [21.0]},
        MODES[2].name: {HITS.name: [800], "confirm p50 ms": [5.5], CONFIRM_P99.name: [22.0]},
    }
    rows = summarize(rounds)
    assert len(rows) == 2 * len(MEASURES)
    by_metric = {row["metric"]: row for row in rows}
    tenth = by_metric[f"{HITS.name}, 10% sampled"]
    assert (tenth["value"], tenth["baseline"]) == (980, 1000)
    assert tenth["loss"] == pytest.approx(0.02) and tenth["verdict"].startswith("ok")
    every = by_metric[f"{HITS.name}, every trace"]
    assert every["loss"] == pytest.approx(0.2) and every["verdict"].startswith("OVER")


def test_the_sink_counts_bytes_and_answers_an_empty_export_response() -> None:
    async def exchange() -> tuple[bytes, str, dict[str, int], int]:
        async with TestClient(TestServer(otlp_sink.make_app())) as client:
            response = await client.post("/v1/traces", data=b"\x0a\x00" * 50)
            body, kind = await response.read(), response.content_type
            stats = await (await client.get("/stats")).json()
            cached = await client.get("/object")
            assert "max-age" in cached.headers["cache-control"]
            return body, kind, stats, response.status

    body, kind, stats, status = asyncio.run(exchange())
    assert status == 200 and kind == "application/x-protobuf"
    ExportTraceServiceResponse().ParseFromString(body)  # what the exporter reads
    assert body == b"" and stats == {"requests": 1, "bytes": 100}
