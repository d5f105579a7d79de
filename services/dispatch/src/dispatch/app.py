from contextlib import AsyncExitStack

from fastapi import FastAPI

from dispatch.api import router, trips_router
from dispatch.demand import SurgeBoard
from dispatch.events import TOPICS
from dispatch.forwarding import TripForwarding
from dispatch.locations import LocationIndex, SearchMetrics
from dispatch.membership import Membership
from dispatch.metrics import DispatchMetrics
from dispatch.settings import DispatchSettings
from dispatch.store import ensure_schema
from dispatch.trips import Trips
from stackkit.http import internal_client
from stackkit.lifespan import backends
from stackkit.outbox import create_outbox, start_relay
from stackkit.periodic import run_every
from stackkit.service import ReadinessCheck, create_service_app


async def open_dispatch(app: FastAPI, stack: AsyncExitStack) -> dict[str, ReadinessCheck]:
    """The location index, trips with their outbox relay and offer timeouts, surge, and this
    worker's place on the ring with the forwarding to the other workers."""
    settings: DispatchSettings = app.state.settings
    metrics = DispatchMetrics(app.state.metrics.registry)
    app.state.dispatch_metrics = metrics
    app.state.locations = LocationIndex(
        app.state.redis,
        stale_after_s=settings.stale_after_s,
        metrics=SearchMetrics(app.state.metrics.registry),
    )
    await ensure_schema(app.state.db)
    await create_outbox(app.state.db)
    # Kicked by every commit that stages a trip event; swept every 0.5 s for leftovers.
    app.state.relay = start_relay(stack, app.state.db, app.state.events, idle_s=0.5)
    app.state.surge = SurgeBoard(
        app.state.redis,
        stale_after_s=settings.stale_after_s,
        recompute_s=settings.surge_recompute_s,
    )
    trips = Trips(
        app.state.db,
        app.state.locations,
        app.state.events,
        app.state.surge,
        settings.offer_timeout_s,
    )
    app.state.trips = trips
    run_every(stack, 1.0, trips.expire_offers, "offer-timeouts")
    membership = Membership(
        app.state.redis,
        settings.worker_id,
        settings.advertised_url,
        settings.member_ttl_s,
        on_change=metrics.ownership_changed,
    )
    await membership.heartbeat()
    stack.push_async_callback(membership.leave)
    run_every(stack, settings.heartbeat_s, membership.heartbeat, "heartbeat")
    app.state.membership = membership
    peers = internal_client(30.0)
    stack.push_async_callback(peers.aclose)
    app.state.forwarding = TripForwarding(membership, peers)
    return {}


def create_app(settings: DispatchSettings | None = None) -> FastAPI:
    return create_service_app(
        name="dispatch",
        settings=settings or DispatchSettings(),
        lifespan_parts=(backends(TOPICS), open_dispatch),
        routers=(router, trips_router),
        description="Uber: location ingest, nearby drivers, trip dispatch and surge.",
    )
