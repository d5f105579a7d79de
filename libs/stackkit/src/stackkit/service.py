"""Builds a service's FastAPI app: lifespan-owned adapters, errors, health, readiness, metrics,
tracing."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client.exposition import choose_encoder
from pydantic import BaseModel

from stackkit import flags
from stackkit.errors import NotFound
from stackkit.gate import InputGate, Renderer, stack_error
from stackkit.http_errors import install_error_handlers
from stackkit.logs import configure_logging, get_logger
from stackkit.metrics import HttpMetrics
from stackkit.middleware import RequestMiddleware
from stackkit.openapi import document_errors
from stackkit.settings import ServiceSettings
from stackkit.tracing import configure_tracing, instrument_app, quiet

ReadinessCheck = Callable[[], Awaitable[object]]
"""Raises (or times out) when the dependency it checks is not usable."""

LifespanPart = Callable[[FastAPI, AsyncExitStack], Awaitable[dict[str, ReadinessCheck]]]
"""Opens some of a service's adapters on the exit stack (which closes them), stores them on
``app.state`` for the handlers' ``from_state`` aliases, and returns their readiness checks."""

READINESS_TIMEOUT_S = 2.0

log = get_logger(__name__)


class Readiness(BaseModel):
    status: str
    service: str
    checks: dict[str, str]


def create_service_app(
    *,
    name: str,
    settings: ServiceSettings,
    lifespan_parts: Sequence[LifespanPart] = (),
    routers: Sequence[APIRouter] = (),
    description: str = "",
    render_rejection: Renderer = stack_error,
) -> FastAPI:
    """The one way every process of the stack becomes an ASGI app.

    At start-up the ``lifespan_parts`` open in order on one exit stack, each seeing what the
    ones before it put on ``app.state`` (:func:`stackkit.lifespan.backends` first, usually);
    at shutdown everything they opened closes in reverse. ``/readyz`` runs their checks, in
    that order. The ``routers`` are served after ``/healthz``, ``/readyz`` and ``/metrics``.
    Every request crosses :class:`stackkit.gate.InputGate` first; ``render_rejection`` shapes
    its 400s for the app's clients (the stack's error model unless the app speaks another
    API's)."""
    configure_logging(name, settings.log_level)
    configure_tracing(name)  # the first app of the process decides, from OTEL_*
    checks: dict[str, ReadinessCheck] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for part in lifespan_parts:
                checks.update(await part(app, stack))
            log.info("started", service=name)
            yield
            log.info("stopping", service=name)

    app = FastAPI(title=name, description=description, lifespan=lifespan)
    app.state.settings = settings
    metrics = HttpMetrics()
    app.state.metrics = metrics
    install_error_handlers(app)
    document_errors(app)
    # Added first, so it runs inside RequestMiddleware: a rejection has a request id and a log.
    app.add_middleware(InputGate, render=render_rejection)
    app.add_middleware(RequestMiddleware, metrics=metrics)
    instrument_app(app)  # a server span around all of it, when tracing

    @app.get("/healthz", tags=["ops"], summary="Alive: the process serves HTTP")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": name}

    @app.get("/flags", tags=["ops"], summary="The run-time flags this process is using")
    async def flag_status() -> dict[str, Any]:
        # A malformed flag file leaves the last good flags in force: here it shows (valid false,
        # the parse error), beside the values in force and the switches production refused.
        return flags.status().as_dict()

    @app.get(
        "/readyz",
        tags=["ops"],
        summary="Ready: every dependency answers",
        responses={200: {"model": Readiness}, 503: {"model": Readiness}},
    )
    async def readyz() -> JSONResponse:
        results = await asyncio.gather(*(_run_check(check) for check in checks.values()))
        report = dict(zip(checks, results, strict=True))
        ready = all(result == "ok" for result in report.values())
        body = {"status": "ready" if ready else "unavailable", "service": name, "checks": report}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get(
        "/metrics", tags=["ops"], summary="Prometheus metrics", response_class=PlainTextResponse
    )
    async def prometheus_metrics(request: Request) -> Response:
        # OpenMetrics (with the latencies' trace exemplars) when the scraper asks for it,
        # as Prometheus does; the classic text format otherwise.
        encode, media_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(metrics.registry), media_type=media_type)

    for router in routers:
        app.include_router(router)
    return app


async def _run_check(check: ReadinessCheck) -> str:
    try:
        with quiet():  # probed every few seconds: its queries are no trace
            await asyncio.wait_for(check(), READINESS_TIMEOUT_S)
    except TimeoutError:
        return "timeout"
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"[:200]
    return "ok"


def from_state(name: str) -> Any:
    """A FastAPI dependency on ``app.state.<name>`` (what a lifespan part put there):
    ``Store = Annotated[CatalogStore, from_state("store")]``."""

    def dependency(request: Request) -> Any:
        return getattr(request.app.state, name)

    return Depends(dependency)


def _require_dev_endpoints(request: Request) -> None:
    settings: ServiceSettings = request.app.state.settings
    if not settings.dev_endpoints_enabled:
        # 404, not 403: a production deployment does not advertise what it has switched off.
        raise NotFound("Not available: development endpoints are off here.", code="not_found")


development_only = Depends(_require_dev_endpoints)
"""Route dependency for development-only endpoints: ``dependencies=[development_only]``.
On unless ``environment`` is production or ``<PREFIX>_DEV_ENDPOINTS=false``."""
