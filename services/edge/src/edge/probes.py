"""Origin health for a PoP: active probes of every routed origin, and the passive marks the
request path makes when a connection is refused. Beliefs live in :class:`OriginHealth`; this
module does the I/O and logs each change once (not every probe)."""

import asyncio
from collections.abc import Callable

import aiohttp

from edge import upstream
from edge.domain.config import EdgeConfig
from edge.domain.origins import OriginHealth
from stackkit.logs import get_logger

log = get_logger(__name__)


def note(health: OriginHealth, origin: str, healthy: bool, now: float, why: str) -> None:
    if health.mark(origin, healthy, now):
        if healthy:
            log.info("origin_readmitted", origin=origin, why=why)
        else:
            log.warning("origin_marked_down", origin=origin, why=why)


async def probe_origins(
    session: aiohttp.ClientSession,
    health: OriginHealth,
    config: Callable[[], EdgeConfig],
    clock: Callable[[], float],
) -> None:
    """Probes every origin of every route once, concurrently."""
    origins = sorted({origin for route in config().routes.values() for origin in route.origins})
    health.forget_except(set(origins))
    results = await asyncio.gather(*(upstream.probe(session, origin) for origin in origins))
    now = clock()
    for origin, healthy in zip(origins, results, strict=True):
        note(health, origin, healthy, now, "probe")
