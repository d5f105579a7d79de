"""One edge PoP: routes ``/<service>/...`` to the service's origin and says which PoP served it."""

from contextlib import AsyncExitStack

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import Response

from edge.routing import forwardable_headers, route_for
from edge.settings import EdgeSettings
from stackkit.errors import NotFound, UpstreamTimeout, UpstreamUnreachable
from stackkit.http import internal_client
from stackkit.request_context import current_request_id
from stackkit.service import ReadinessCheck, create_service_app

PROXY_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# The edge's own server sets these; content-encoding goes because httpx already decoded the body.
EDGE_OWNED_RESPONSE_HEADERS = frozenset({"date", "server", "x-request-id", "content-encoding"})


def create_app(settings: EdgeSettings | None = None) -> FastAPI:
    settings = settings or EdgeSettings()
    origins = settings.origins()

    async def open_resources(app: FastAPI, stack: AsyncExitStack) -> dict[str, ReadinessCheck]:
        client = internal_client(settings.origin_timeout_s)
        stack.push_async_callback(client.aclose)
        app.state.origin_client = client
        return {}

    app = create_service_app(
        name="edge",
        settings=settings,
        open_resources=open_resources,
        description="Cloudflare: a PoP in front of every service.",
    )

    @app.middleware("http")
    async def pop_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response: Response = await call_next(request)
        response.headers["x-edge-pop"] = settings.pop_name
        # This middleware wraps the request-id one, so the id is read back from the response.
        response.headers["cf-ray"] = (
            f"{response.headers.get('x-request-id', '')}-{settings.pop_name}"
        )
        response.headers.setdefault("cf-cache-status", "DYNAMIC")
        return response

    @app.api_route("/{service}/{rest:path}", methods=PROXY_METHODS, tags=["proxy"])
    async def proxy(service: str, rest: str, request: Request) -> Response:
        route = route_for(service, origins)
        if route is None:
            raise NotFound(
                f"no service at /{service}; try one of {sorted(origins)}", code="not_found"
            )
        client: httpx.AsyncClient = request.app.state.origin_client
        headers = forwardable_headers(
            [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        )
        headers += [
            ("x-request-id", current_request_id() or ""),
            ("x-forwarded-prefix", f"/{service}"),
            ("x-forwarded-for", request.client.host if request.client else ""),
        ]
        try:
            upstream = await client.request(
                request.method,
                route.upstream_url(rest, request.url.query),
                headers=headers,
                content=await request.body(),
            )
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(f"{service} did not answer in time") from exc
        except httpx.TransportError as exc:
            raise UpstreamUnreachable(f"{service} is unreachable") from exc
        response = Response(content=upstream.content, status_code=upstream.status_code)
        for name, value in forwardable_headers(list(upstream.headers.multi_items())):
            if name.lower() not in EDGE_OWNED_RESPONSE_HEADERS:
                response.headers.append(name, value)
        return response

    return app
