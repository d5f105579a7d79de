"""A cheap OTLP/HTTP trace sink for the tracing benchmark, run as its own process so that it
never takes the load generator's CPU: ``python -m loadtests.otlp_sink --port N``.

``POST /v1/traces`` counts the request and its bytes (nothing is decoded: the cost measured is
the stack's, not a collector's) and answers 200 with an empty ``ExportTraceServiceResponse``
(zero bytes of protobuf). ``GET /stats`` says what arrived. ``GET /object`` is a cacheable
1 KiB object, the origin of the edge's cache-hit path (fetched once, then a hit).
"""

import argparse
import json

from aiohttp import web

OBJECT = b"x" * 1024
PROTOBUF = "application/x-protobuf"


def make_app() -> web.Application:
    received = {"requests": 0, "bytes": 0}

    async def traces(request: web.Request) -> web.Response:
        body = await request.read()
        received["requests"] += 1
        received["bytes"] += len(body)
        # An empty message is zero bytes on the wire: the exporter reads it as "all accepted".
        return web.Response(body=b"", content_type=PROTOBUF)

    async def stats(_: web.Request) -> web.Response:
        return web.Response(text=json.dumps(received), content_type="application/json")

    async def cacheable(_: web.Request) -> web.Response:
        return web.Response(body=OBJECT, headers={"cache-control": "public, max-age=3600"})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/traces", traces)
    app.router.add_get("/stats", stats)
    app.router.add_get("/object", cacheable)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(make_app(), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
