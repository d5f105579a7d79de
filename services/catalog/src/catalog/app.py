from contextlib import AsyncExitStack

import redis.asyncio as aioredis
from fastapi import FastAPI

from catalog.api import router
from catalog.evcache import ZONE_A, Zone, ZonedCache, policy_from_flags
from catalog.events import PLAYS, TOPICS
from catalog.filling import FillPlanner
from catalog.metrics import CatalogMetrics
from catalog.plays import PLAYS_GROUP, PlayConsumer
from catalog.seed import seed_store
from catalog.settings import CatalogSettings
from catalog.store import CatalogStore
from catalog.topology import default_topology, forecast_head
from stackkit.consumer import consume
from stackkit.inbox import RedisInbox
from stackkit.lifespan import backends
from stackkit.periodic import run_every
from stackkit.service import ReadinessCheck, create_service_app


async def open_catalog(app: FastAPI, stack: AsyncExitStack) -> dict[str, ReadinessCheck]:
    """The seeded Cassandra store, the zoned cache, the fill planner and the plays consumer."""
    settings: CatalogSettings = app.state.settings
    store = await CatalogStore.connect(
        settings.cassandra_contact_points,
        settings.cassandra_keyspace,
        timeout_s=settings.startup_timeout_s,
        registry=app.state.metrics.registry,
    )
    stack.callback(store.close)
    zone_b = aioredis.Redis.from_url(
        settings.redis_zone_b_url, socket_connect_timeout=0.5, socket_timeout=1
    )
    stack.push_async_callback(zone_b.aclose)
    app.state.store = store
    app.state.catalog_metrics = CatalogMetrics(app.state.metrics.registry)
    await seed_store(store, settings.seed_titles)
    app.state.topology = default_topology(settings.seed_titles)
    app.state.forecast_head = forecast_head(settings.seed_titles, 50)
    app.state.fill = FillPlanner(
        app.state.redis,
        app.state.topology,
        settings.seed_titles,
        settings.fill_pseudo_plays,
        app.state.metrics.registry,
    )
    run_every(stack, settings.fill_interval_s, app.state.fill.run, "fill-planner")
    app.state.cache = ZonedCache(
        [Zone(ZONE_A, app.state.redis), Zone("b", zone_b)],
        ttl_s=settings.cache_ttl_s,
        registry=app.state.metrics.registry,
        policy=policy_from_flags,  # catalog.cache and catalog.cacheZoneADown, per lookup
    )
    plays_consumer = consume(
        stack,
        settings=settings,
        group_id=PLAYS_GROUP,
        topics=(PLAYS.name,),
        handler=PlayConsumer(store, app.state.redis),
        inbox=RedisInbox(app.state.redis),
        dead_letters=app.state.events,
        concurrency=16,  # a Redis inbox: no pooled connection is held per claim
    )
    return {"cassandra": store.check, "plays_consumer": plays_consumer}


def create_app(settings: CatalogSettings | None = None) -> FastAPI:
    return create_service_app(
        name="catalog",
        settings=settings or CatalogSettings(),
        lifespan_parts=(backends(TOPICS), open_catalog),
        routers=(router,),
        description="Netflix: titles, encodes, Open Connect steering and recommendations.",
    )
