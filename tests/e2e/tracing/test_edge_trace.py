"""A GET through the anycast entry is one trace in the client's: the entry splices bytes, so
the PoP's SERVER span continues the client's traceparent; a lower tier's miss goes on to the
upper tier (its own SERVER span, under the lower's fetch) and from there to the origin (the
catalog's SERVER span); the hit that follows is the PoP's span alone, marked HIT. The PoP's and
the catalog's latency histograms name those traces in their exemplars."""

import secrets
import uuid

import httpx
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from devstack.stack import NativeStack
from devstack.topology import EDGE_POPS, UPPER_TIER
from tests.e2e.tracing.shapes import described, log_lines, one, under
from tests.tracing.otlp_receiver import OtlpReceiver, ReceivedSpan

pytestmark = pytest.mark.e2e

LOWER = "edge-pop-2"
"""The PoP the client's region hint sends it to: a lower tier, so a miss crosses both tiers."""
LOWER_POP, LOWER_REGION = EDGE_POPS[LOWER]
UPPER_POP = EDGE_POPS[UPPER_TIER][0]


def client_span() -> tuple[str, str, str]:
    """A client's own span: (trace id, span id, the traceparent header naming them)."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


async def exemplar_traces(url: str, name: str, **labels: str) -> set[str]:
    """The trace ids in the exemplars of histogram ``name``'s buckets whose labels include
    ``labels``, scraped from ``url``/metrics as Prometheus asks (OpenMetrics)."""
    async with httpx.AsyncClient(timeout=10) as client:
        scraped = await client.get(
            f"{url}/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"}
        )
    assert scraped.headers["content-type"].startswith("application/openmetrics-text")
    return {
        sample.exemplar.labels["trace_id"]
        for family in text_string_to_metric_families(scraped.text)  # type: ignore[no-untyped-call]
        for sample in family.samples
        if sample.name == f"{name}_bucket"
        and sample.exemplar is not None
        and all(sample.labels.get(k) == v for k, v in labels.items())
    }


def is_pop_span(s: ReceivedSpan, pop_process: str) -> bool:
    return s.kind == "SERVER" and s.service == pop_process


async def test_a_miss_crosses_both_tiers_to_the_origin_in_the_clients_trace_and_a_hit_stays(
    traced_stack: NativeStack, spans: OtlpReceiver
) -> None:
    # A seeded title under a query no cache holds yet: a miss at both tiers.
    path = f"/catalog/v1/titles/t1?run={uuid.uuid4().hex}"
    miss_trace, miss_parent, miss_header = client_span()
    hit_trace, hit_parent, hit_header = client_span()
    async with httpx.AsyncClient(base_url=traced_stack.edge_url, timeout=30) as client:
        hint = {"x-client-region": LOWER_REGION}
        miss = await client.get(path, headers={**hint, "traceparent": miss_header})
        hit = await client.get(path, headers={**hint, "traceparent": hit_header})
    for response in (miss, hit):
        assert response.status_code == 200, response.text
        assert response.headers["x-edge-pop"] == LOWER_POP, "the region hint's PoP answered"
    assert (miss.headers["cf-cache-status"], hit.headers["cf-cache-status"]) == ("MISS", "HIT")

    # -- the miss: lower PoP -> upper PoP -> origin, all in the client's trace -------------
    origin = await spans.wait_for(
        lambda s: s.trace_id == miss_trace and s.kind == "SERVER" and s.service == "catalog",
        what="the origin's server span in the client's trace",
    )
    # The lower PoP's span ends last (after the upper tier's answer came back).
    lower = await spans.wait_for(
        lambda s: s.trace_id == miss_trace and is_pop_span(s, LOWER),
        what="the lower PoP's server span",
    )
    upper = await spans.wait_for(
        lambda s: s.trace_id == miss_trace and is_pop_span(s, UPPER_TIER),
        what="the upper tier's server span",
    )
    trace = spans.trace(miss_trace)
    assert lower.parent_span_id == miss_parent, "the anycast entry forwards the bytes untouched"
    assert lower.name == "GET /catalog"
    assert lower.attributes["edge.pop"] == LOWER_POP
    assert lower.attributes["edge.tier"] == "lower"
    assert lower.attributes["http.route"] == "/catalog"
    assert lower.attributes["cf.cache_status"] == "MISS"
    assert lower.attributes["http.response.status_code"] == 200

    assert under(trace, upper, lower), (
        f"the upper tier continues the lower's:\n  {described(trace)}"
    )
    assert any(
        s.kind == "CLIENT"
        and s.span_id == upper.parent_span_id
        and s.parent_span_id == lower.span_id
        for s in trace
    ), f"the lower PoP's fetch (a CLIENT span) is the upper tier's parent:\n  {described(trace)}"
    assert upper.attributes["edge.pop"] == UPPER_POP
    assert upper.attributes["edge.tier"] == "upper"
    assert upper.attributes["cf.cache_status"] == "MISS"

    assert origin.name == "GET /v1/titles/{title_id}"
    assert under(trace, origin, upper), f"the upper tier fetched the origin:\n  {described(trace)}"
    one(trace, "the origin's server span", kind="SERVER", service="catalog")
    one(trace, "the lower PoP's span", kind="SERVER", service=LOWER)
    one(trace, "the upper PoP's span", kind="SERVER", service=UPPER_TIER)
    catalog_lines = log_lines(traced_stack.logs_dir() / "catalog.log", miss_trace)
    assert any(line.get("event") == "request" for line in catalog_lines), catalog_lines

    # -- the hit: the lower PoP's span alone, marked HIT -----------------------------------
    pop = await spans.wait_for(
        lambda s: s.trace_id == hit_trace and is_pop_span(s, LOWER),
        what="the hit's PoP span",
    )
    assert pop.parent_span_id == hit_parent
    assert pop.attributes["cf.cache_status"] == "HIT"
    assert pop.attributes["http.response.status_code"] == 200
    # Nothing went upstream: a fetch would be a CLIENT span of this PoP, ended before the
    # PoP's span and so exported in the same batch or an earlier one (the processor exports
    # spans in the order they end); everything upstream would hang under it.
    hit_spans = spans.trace(hit_trace)
    assert [s.span_id for s in hit_spans] == [pop.span_id], described(hit_spans)

    # -- exemplars: a latency bucket links to the trace that landed in it ------------------
    # The hit is the route's last observation on the lower PoP: its bucket names its trace.
    on_pop = await exemplar_traces(
        traced_stack.url(LOWER), "edge_request_duration_seconds", route="catalog"
    )
    assert hit_trace in on_pop, on_pop
    at_origin = await exemplar_traces(
        traced_stack.url("catalog"), "http_request_duration_seconds", route="/v1/titles/{title_id}"
    )
    assert miss_trace in at_origin, at_origin
