"""Latency exemplars: a traced app's ``http_request_duration_seconds`` names the trace of the
request it observed, in the OpenMetrics format a scraper (Prometheus) asks for by ``Accept``;
the classic format, an untraced app and an unsampled request carry none."""

import secrets

import httpx
from fastapi import FastAPI
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from stackkit import tracing
from stackkit.service import create_service_app
from stackkit.settings import ServiceSettings
from tests.tracing.otlp_receiver import OtlpReceiver

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
PROMETHEUS_ACCEPT = (  # what Prometheus 3 sends
    "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;"
    "version=0.0.1;q=0.4,text/plain;version=1.0.0;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
)
LATENCY = "http_request_duration_seconds"
ROUTE = "/widgets/{widget_id}"


def widgets_app() -> FastAPI:
    app = create_service_app(name="widgets", settings=ServiceSettings())

    @app.get("/widgets/{widget_id}")
    async def widget(widget_id: str) -> dict[str, str]:
        return {"id": widget_id}

    return app


async def get(app: FastAPI, path: str, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path, headers=headers)


def traceparent(sampled: bool) -> tuple[str, str]:
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-{'01' if sampled else '00'}"


async def exemplar_trace_ids(app: FastAPI) -> list[str]:
    """The trace ids of the route's latency exemplars, scraped as OpenMetrics."""
    scraped = await get(app, "/metrics", {"accept": PROMETHEUS_ACCEPT})
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("application/openmetrics-text")
    return [
        sample.exemplar.labels["trace_id"]
        for family in text_string_to_metric_families(scraped.text)  # type: ignore[no-untyped-call]
        for sample in family.samples
        if sample.name == f"{LATENCY}_bucket"
        and sample.labels.get("route") == ROUTE
        and sample.exemplar is not None
    ]


async def test_a_sampled_requests_latency_names_its_trace_in_openmetrics(
    traced: OtlpReceiver,
) -> None:
    app = widgets_app()
    trace_id, header = traceparent(sampled=True)
    assert (await get(app, "/widgets/w1", {"traceparent": header})).status_code == 200
    assert await exemplar_trace_ids(app) == [trace_id]
    scraped = await get(app, "/metrics", {"accept": OPENMETRICS})
    assert f'# {{trace_id="{trace_id}"}}' in scraped.text
    assert scraped.text.rstrip().endswith("# EOF")

    # A root request: the exemplar is the trace its server span started.
    assert (await get(app, "/widgets/w2", {})).status_code == 200
    assert tracing.force_flush()
    server = await traced.wait_for(
        lambda s: s.kind == "SERVER" and s.trace_id != trace_id, what="the root request's span"
    )
    assert server.trace_id in await exemplar_trace_ids(app)


async def test_the_classic_format_has_no_exemplars(traced: OtlpReceiver) -> None:
    app = widgets_app()
    _, header = traceparent(sampled=True)
    assert (await get(app, "/widgets/w1", {"traceparent": header})).status_code == 200
    scraped = await get(app, "/metrics", {})
    assert scraped.headers["content-type"].startswith("text/plain")
    assert f'{LATENCY}_count{{method="GET",route="{ROUTE}"}} 1.0' in scraped.text
    assert "trace_id" not in scraped.text


async def test_an_unsampled_request_has_no_exemplar(traced: OtlpReceiver) -> None:
    app = widgets_app()
    _, header = traceparent(sampled=False)
    assert (await get(app, "/widgets/w1", {"traceparent": header})).status_code == 200
    assert await exemplar_trace_ids(app) == []
    assert "trace_id" not in (await get(app, "/metrics", {"accept": OPENMETRICS})).text


async def test_without_tracing_no_exemplar(untraced: OtlpReceiver) -> None:
    app = widgets_app()
    _, header = traceparent(sampled=True)
    assert (await get(app, "/widgets/w1", {"traceparent": header})).status_code == 200
    assert await exemplar_trace_ids(app) == []
    scraped = await get(app, "/metrics", {"accept": OPENMETRICS})
    assert f'{LATENCY}_count{{method="GET",route="{ROUTE}"}} 1.0' in scraped.text
    assert "trace_id" not in scraped.text
