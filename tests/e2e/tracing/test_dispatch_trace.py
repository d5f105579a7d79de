"""One trip request, one trace: the PoP, the dispatch worker the edge picked, its forward to the
worker owning the pickup's area, the owner's nearby search (with its Redis calls) and its offer
to the driver, whose event carries the trace on to Kafka; and the log lines of the request, on
both workers, carry the trace's id."""

import json
import random
import uuid
from collections.abc import Callable

import httpx
import pytest

from devstack.stack import NativeStack
from dispatch.domain.geo import Point
from tests.e2e.tracing.shapes import described, log_lines, one, under
from tests.kafka_reading import read_topic
from tests.tracing.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

WORKERS = ("dispatch", "dispatch-2")
ATTEMPTS = 8
"""Trip requests sent until the edge hands one to the worker that does not own its area."""


async def owner_of(client: httpx.AsyncClient, point: Point) -> str:
    response = await client.get("/v1/areas/owner", params={"lat": point.lat, "lng": point.lng})
    assert response.status_code == 200, response.text
    return str(response.json()["worker"])


def server_of(trace: list[ReceivedSpan], worker: str) -> ReceivedSpan:
    """The trip request's server span on ``worker`` (which sets ``dispatch.worker`` on it)."""
    found = [
        s for s in trace if s.kind == "SERVER" and s.attributes.get("dispatch.worker") == worker
    ]
    assert len(found) == 1, f"{worker}'s server span: {len(found)} in\n  {described(trace)}"
    assert found[0].name == "POST /v1/trips" and found[0].service in ("dispatch", worker)
    return found[0]


async def test_a_forwarded_trip_request_is_one_trace_from_the_pop_to_the_offer(
    traced_stack: NativeStack, spans: OtlpReceiver
) -> None:
    run = uuid.uuid4().hex
    rng = random.Random(run)
    async with httpx.AsyncClient(
        base_url=f"{traced_stack.edge_url}/dispatch", timeout=30
    ) as client:
        places = [Point(rng.uniform(-45, 45), rng.uniform(-170, 170)) for _ in range(80)]

        async def both_on_the_ring() -> bool:
            return len({await owner_of(client, p) for p in places}) == 2

        await eventually(both_on_the_ring, timeout_s=15, what="both workers on the ring")
        owned = [p for p in places if await owner_of(client, p) == "dispatch-2"][:ATTEMPTS]
        for attempt, pickup in enumerate(owned):
            driver = f"traced-{run[:6]}-{attempt}"
            drivers = [
                {"driver_id": driver, "lat": pickup.lat + 0.0005, "lng": pickup.lng},
                {"driver_id": f"{driver}-b", "lat": pickup.lat + 0.002, "lng": pickup.lng},
                {"driver_id": f"{driver}-c", "lat": pickup.lat - 0.003, "lng": pickup.lng},
            ]
            reported = await client.post("/v1/locations", json={"updates": drivers})
            assert reported.status_code == 200, reported.text
            response = await client.post(
                "/v1/trips",
                json={
                    "rider_id": f"rider-{run[:6]}",
                    "pickup": {"lat": pickup.lat, "lng": pickup.lng},
                    "dropoff": {"lat": pickup.lat + 0.02, "lng": pickup.lng},
                },
            )
            assert response.status_code == 200, response.text
            assert response.headers["x-dispatch-worker"] == "dispatch-2"
            if response.headers.get("x-dispatch-forwarded") == "dispatch":
                break
        else:
            pytest.fail(f"the edge sent none of {len(owned)} trip requests to the non-owner")
    trip = response.json()
    assert trip["offered_driver"] == driver
    offer = await spans.wait_for(
        lambda s: s.name == "dispatch.offer" and s.attributes.get("dispatch.trip.id") == trip["id"],
        what=f"the offer span of {trip['id']}",
    )
    trace_id = offer.trace_id
    # Every hop of the request has arrived: the receiver's spans end last (after the owner's
    # answer), the relay publishes the offer's row a moment after its commit.
    arrivals: list[tuple[str, Callable[[ReceivedSpan], bool]]] = [
        (
            "the receiver's server span",
            lambda s: s.kind == "SERVER" and s.attributes.get("dispatch.worker") == "dispatch",
        ),
        # The offer's own row: the trip's earlier rows (requested, dispatching) are relayed
        # in the request's trace too, and may be all that has arrived yet.
        (
            "the relay of the offer's row",
            lambda s: s.name == "outbox relay dispatch.trips" and s.parent_span_id == offer.span_id,
        ),
    ]
    for what, arrived in arrivals:

        def in_trace(s: ReceivedSpan, arrived: Callable[[ReceivedSpan], bool] = arrived) -> bool:
            return s.trace_id == trace_id and arrived(s)

        await spans.wait_for(in_trace, what=what)
    trace = spans.trace(trace_id)

    receiver = server_of(trace, "dispatch")
    forward = one(trace, "the forward", name="dispatch.forward")
    assert under(trace, forward, receiver) and forward.attributes["dispatch.owner"] == "dispatch-2"
    owner = server_of(trace, "dispatch-2")
    assert under(trace, owner, forward), "the owner continues the forward's context"
    assert any(
        s.kind == "CLIENT" and s.span_id == owner.parent_span_id and under(trace, s, forward)
        for s in trace
    ), f"the forward's httpx client span is the owner's parent:\n  {described(trace)}"

    nearby = one(trace, "the nearby search", name="dispatch.nearby")
    assert under(trace, nearby, owner), "searched by the owner"
    assert nearby.attributes["dispatch.search"] == "h3_rings"
    assert nearby.attributes["dispatch.nearby.rings"] >= 1
    assert nearby.attributes["dispatch.nearby.candidates"] >= 3
    redis_calls = [s for s in trace if s.parent_span_id == nearby.span_id]
    assert redis_calls and all(
        s.kind == "CLIENT" and s.attributes.get("db.system") == "redis" for s in redis_calls
    ), f"the search's Redis calls:\n  {described(trace)}"
    assert any(s.name.startswith("EVALSHA") for s in redis_calls), "the rings' script"

    offer = one(trace, "the offer", name="dispatch.offer")
    assert under(trace, offer, owner), "offered by the owner"
    assert offer.attributes["dispatch.trip.id"] == trip["id"]
    assert offer.attributes["dispatch.driver.id"] == trip["offered_driver"]
    relayed = [
        s for s in trace if s.name == "outbox relay dispatch.trips" and under(trace, s, offer)
    ]
    assert relayed, f"the offer's outbox row relayed in the trace:\n  {described(trace)}"
    relay_ids = {s.span_id for s in relayed}
    await spans.wait_for(
        lambda s: s.name == "dispatch.trips publish" and s.parent_span_id in relay_ids,
        what="the publish of the offer's row",
    )

    # The driver's side reads the offer off Kafka: its record carries this trace on.
    offered = await read_topic(
        traced_stack.servers.kafka.bootstrap_servers,
        "dispatch.trips",
        lambda r: (
            dict(r.headers)
            if r.key == str(trip["id"]).encode()
            and json.loads(r.value)["type"] == "dispatch.trip.offer_next"
            else None
        ),
        count=1,
    )
    traceparent = offered[0].get("traceparent", b"").decode()
    assert traceparent.split("-")[1] == trace_id, traceparent

    # The log lines of the request, on both workers, carry the trace id.
    logs = traced_stack.logs_dir()
    received = {line["event"] for line in log_lines(logs / "dispatch.log", trace_id)}
    decided = {line["event"] for line in log_lines(logs / "dispatch-2.log", trace_id)}
    assert {"trip_forwarded", "request"} <= received, received
    assert {"trip_offer", "request"} <= decided, decided

    # Last, as the edge's own server span ends after the whole response and may still be on its
    # way in: the PoP's hop opens the trace.
    pop = await spans.wait_for(
        lambda s: s.trace_id == trace_id and s.kind == "SERVER" and s.service.startswith("edge"),
        what="the PoP's server span",
    )
    trace = spans.trace(trace_id)
    assert under(trace, receiver, pop), (
        f"a PoP's server span heads the trace:\n  {described(trace)}"
    )
