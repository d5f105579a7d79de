"""An app built by ``create_service_app`` is traced only when ``OTEL_*`` says where to: a SERVER
span continuing the caller's ``traceparent``, its trace id on the request's log lines; with no
variable, nothing installed and nothing exported."""

import json
import secrets

import asyncpg
import httpx
import pytest
import redis.asyncio
from fastapi import FastAPI
from opentelemetry import trace

from stackkit import tracing
from stackkit.logs import configure_logging, get_logger
from stackkit.service import create_service_app
from stackkit.settings import ServiceSettings
from tests.tracing.otlp_receiver import OtlpReceiver

log = get_logger("tests.tracing")


def caller_context() -> tuple[str, str, str]:
    """A caller's (trace id, span id, traceparent), as a client upstream would send."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


def widgets_app(name: str) -> FastAPI:
    app = create_service_app(name=name, settings=ServiceSettings())

    @app.get("/widgets/{widget_id}")
    async def widget(widget_id: str) -> dict[str, str]:
        log.info("widget_read", widget_id=widget_id)
        return {"id": widget_id}

    return app


async def get(app: FastAPI, path: str, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path, headers=headers)


def log_lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


async def test_a_request_is_a_server_span_continuing_the_callers_trace(
    traced: OtlpReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    trace_id, caller_span, traceparent = caller_context()
    app = widgets_app("widgets")
    response = await get(app, "/widgets/w1", {"traceparent": traceparent})
    assert response.status_code == 200
    assert tracing.force_flush()
    server = await traced.wait_for(lambda s: s.kind == "SERVER", what="the server span")
    assert (server.trace_id, server.parent_span_id) == (trace_id, caller_span)
    assert (server.name, server.service) == ("GET /widgets/{widget_id}", "widgets")
    assert server.attributes["stack.request_id"] == response.headers["x-request-id"]
    status = server.attributes.get(
        "http.response.status_code", server.attributes.get("http.status_code")
    )
    assert status == 200

    lines = {line["event"]: line for line in log_lines(capsys.readouterr().out)}
    for event in ("widget_read", "request"):  # the handler's line and the access line
        assert lines[event]["trace_id"] == trace_id
        assert lines[event]["span_id"] == server.span_id
        assert lines[event]["request_id"] == response.headers["x-request-id"]


async def test_probes_and_scrapes_are_not_traced(traced: OtlpReceiver) -> None:
    app = widgets_app("widgets")
    for path in ("/healthz", "/metrics", "/widgets/w2"):
        assert (await get(app, path, {})).status_code == 200
    assert tracing.force_flush()
    await traced.wait_for(lambda s: s.kind == "SERVER", what="the widget's server span")
    assert [s.name for s in traced.spans() if s.kind == "SERVER"] == ["GET /widgets/{widget_id}"]


async def test_otel_service_name_names_the_process(
    traced: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "widgets-eu")
    app = widgets_app("widgets")
    assert (await get(app, "/widgets/w3", {})).status_code == 200
    assert tracing.force_flush()
    server = await traced.wait_for(lambda s: s.kind == "SERVER", what="the server span")
    assert server.service == "widgets-eu"


async def test_a_log_line_inside_a_span_carries_its_ids_and_outside_none(
    traced: OtlpReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    assert tracing.configure_tracing("worker")
    configure_logging("worker")
    with tracing.span("job") as job:
        log.info("inside")
    log.info("outside")
    lines = {line["event"]: line for line in log_lines(capsys.readouterr().out)}
    ids = job.get_span_context()
    assert lines["inside"]["trace_id"] == format(ids.trace_id, "032x")
    assert lines["inside"]["span_id"] == format(ids.span_id, "016x")
    assert "trace_id" not in lines["outside"] and "span_id" not in lines["outside"]


async def test_a_span_links_to_the_traces_of_what_it_batches(traced: OtlpReceiver) -> None:
    assert tracing.configure_tracing("gateway")
    first, second = caller_context(), caller_context()
    with tracing.span("batch", links=[first[2], None, second[2]]):
        pass
    assert tracing.force_flush()
    batch = await traced.wait_for(lambda s: s.name == "batch", what="the batch span")
    assert batch.links == ((first[0], first[1]), (second[0], second[1]))
    assert batch.parent_span_id == ""  # its own trace, linked to each message's


async def test_quiet_leaves_instrumented_calls_out_and_keeps_our_spans(
    traced: OtlpReceiver,
) -> None:
    assert tracing.configure_tracing("relay")
    _, _, stored = caller_context()
    async with httpx.AsyncClient() as client:  # instrumented: a CLIENT span per request
        with tracing.span("loud"):
            await client.get(f"{traced.url}/loud")
        with tracing.quiet():
            with tracing.span("sweep"):
                await client.get(f"{traced.url}/sweep")
            with tracing.span("relayed", parent=stored):
                await client.get(f"{traced.url}/relayed")
    assert tracing.force_flush()
    await traced.wait_for(lambda s: s.name == "relayed", what="the relayed span")
    spans = {s.name: s for s in traced.spans() if s.kind == "INTERNAL"}
    assert set(spans) == {"loud", "sweep", "relayed"}  # our own spans: always made
    parents = [s.parent_span_id for s in traced.spans() if s.kind == "CLIENT"]
    assert parents == [spans["loud"].span_id]
    assert spans["relayed"].parent_span_id == stored.split("-")[2]


async def test_a_lone_query_is_not_exported_but_a_lone_http_call_is(
    traced: OtlpReceiver,
) -> None:
    assert tracing.configure_tracing("sweeper")
    tracer = trace.get_tracer("tests")
    client = trace.SpanKind.CLIENT
    with tracer.start_as_current_span(
        "SELECT", kind=client, attributes={"db.system": "postgresql"}
    ):
        pass  # a periodic sweep's query: bookkeeping
    with tracer.start_as_current_span("PING", kind=client) as ping:
        ping.set_attribute("db.system", "redis")  # named after the start, as redis's does
    with tracer.start_as_current_span("GET", kind=client):
        pass  # it may have carried its context to a server
    with (
        tracing.span("job"),
        tracer.start_as_current_span("UPDATE", kind=client, attributes={"db.system": "postgresql"}),
    ):
        pass
    with tracing.span("last"):
        pass
    assert tracing.force_flush()
    await traced.wait_for(lambda s: s.name == "last", what="the last span")
    assert sorted(s.name for s in traced.spans()) == ["GET", "UPDATE", "job", "last"]


async def test_without_otel_variables_nothing_is_installed_or_exported(
    untraced: OtlpReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    app = widgets_app("widgets")
    _, _, traceparent = caller_context()
    assert (await get(app, "/widgets/w1", {"traceparent": traceparent})).status_code == 200
    assert not tracing.exporting()
    assert not isinstance(trace.get_tracer_provider(), _sdk_provider_type())
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
    wrapped = {
        "httpx": httpx.AsyncHTTPTransport.handle_async_request,
        "asyncpg": asyncpg.connection.Connection.execute,
        "redis": redis.asyncio.Redis.execute_command,
    }
    assert [name for name, f in wrapped.items() if hasattr(f, "__wrapped__")] == []
    with tracing.span("job") as job:
        assert job is trace.INVALID_SPAN
        log.info("inside")
    assert tracing.current_traceparent() is None
    lines = log_lines(capsys.readouterr().out)
    assert lines and not [line for line in lines if "trace_id" in line]
    assert tracing.force_flush()
    assert (untraced.requests, untraced.spans()) == (0, [])


def _sdk_provider_type() -> type:
    from opentelemetry.sdk.trace import TracerProvider

    return TracerProvider


async def test_the_sampler_is_the_one_otel_traces_sampler_names(
    traced: OtlpReceiver, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    app = widgets_app("widgets")
    assert tracing.exporting()
    assert (await get(app, "/widgets/w4", {})).status_code == 200
    with tracing.span("job") as job:
        assert not job.get_span_context().trace_flags.sampled
        assert tracing.current_traceparent() is not None  # still carried on, as "not sampled"
    assert tracing.force_flush()
    assert traced.spans() == []
    lines = log_lines(capsys.readouterr().out)
    assert any(line["event"] == "request" for line in lines)
    assert not [line for line in lines if "trace_id" in line]  # no id of a trace nobody has


async def test_a_hop_of_our_own_continues_the_callers_trace(traced: OtlpReceiver) -> None:
    assert tracing.configure_tracing("pop")
    trace_id, caller_span, traceparent = caller_context()
    asgi_headers = [(b"host", b"edge"), (b"traceparent", traceparent.encode())]
    with tracing.server_span("GET /catalog", asgi_headers) as pop:
        pop.set_attribute("cf.cache_status", "HIT")
    with tracing.server_span("websocket", {"traceparent": traceparent}):
        pass
    with tracing.server_span("fresh", {}):
        pass
    assert tracing.force_flush()
    await traced.wait_for(lambda s: s.name == "fresh", what="the last server span")
    spans = {s.name: s for s in traced.spans()}
    for name in ("GET /catalog", "websocket"):
        assert (spans[name].kind, spans[name].trace_id) == ("SERVER", trace_id)
        assert spans[name].parent_span_id == caller_span
    assert spans["GET /catalog"].attributes["cf.cache_status"] == "HIT"
    assert spans["fresh"].trace_id != trace_id and spans["fresh"].parent_span_id == ""
