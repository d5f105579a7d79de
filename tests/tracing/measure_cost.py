"""What tracing costs: ``python -m tests.tracing.measure_cost``.

Prints nanoseconds per call of each hook the stack's hot paths run (a Kafka send's and a
record's span, the outbox's traceparent, the log processor, the request id attribute), with no
``OTEL_*`` variable and then exporting to a local receiver at 100% sampling; and microseconds
per request through an app built by ``create_service_app`` (in-process ASGI, no network) in
both. Off, a hook is one check of a module flag: compare it with the request's own cost.
"""

import asyncio
import os
import time
import timeit

import httpx
from fastapi import FastAPI

from stackkit import tracing
from stackkit.service import create_service_app
from stackkit.settings import ServiceSettings
from tests.tracing.otlp_receiver import running_receiver

CALLS = 200_000
REQUESTS = 2_000
HEADERS = [("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]
HOOKS = {
    "producer_span (enter+exit)": "with tracing.producer_span('t', key='k'): pass",
    "consumer_span (enter+exit)": (
        "with tracing.consumer_span('t', HEADERS, group='g', partition=0, offset=1): pass"
    ),
    "span (enter+exit)": "with tracing.span('relay'): pass",
    "current_traceparent()": "tracing.current_traceparent()",
    "set_attribute()": "tracing.set_attribute('stack.request_id', 'req_1')",
    "add_trace_ids (log processor)": "tracing.add_trace_ids(None, 'info', {})",
}


def per_call_ns(statement: str, calls: int = CALLS) -> float:
    namespace = {"tracing": tracing, "HEADERS": HEADERS}
    best = min(timeit.repeat(statement, globals=namespace, number=calls, repeat=5))
    return best / calls * 1e9


def app() -> FastAPI:
    built = create_service_app(name="measured", settings=ServiceSettings())

    @built.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        return {"id": item_id}

    return built


async def per_request_us() -> float:
    transport = httpx.ASGITransport(app=app())
    async with httpx.AsyncClient(transport=transport, base_url="http://m") as client:
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            for n in range(REQUESTS):
                await client.get(f"/items/{n}")
            best = min(best, time.perf_counter() - started)
    return best / REQUESTS * 1e6


def measure(label: str) -> None:
    print(f"-- {label} (exporting: {tracing.exporting()})")
    calls = CALLS if not tracing.exporting() else CALLS // 20
    for name, statement in HOOKS.items():
        print(f"  {name:32} {per_call_ns(statement, calls):9.1f} ns")
    print(f"  {'one request (ASGI, in-process)':32} {asyncio.run(per_request_us()):9.1f} us")


def main() -> None:
    for name in [n for n in os.environ if n.startswith("OTEL_")]:
        del os.environ[name]
    print(f"  {'baseline: pass':32} {per_call_ns('pass'):9.1f} ns")
    tracing.configure_tracing("measured")
    measure("no OTEL_* variables")
    tracing.shutdown_tracing()
    from opentelemetry import trace
    from opentelemetry.util._once import Once

    trace._TRACER_PROVIDER_SET_ONCE = Once()  # a second configuration, as the tests do
    with running_receiver() as receiver:
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.url
        tracing.configure_tracing("measured")
        measure("OTEL_EXPORTER_OTLP_ENDPOINT set, parentbased_always_on")
        tracing.shutdown_tracing()
        print(f"  (the receiver got {len(receiver.spans())} spans)")


if __name__ == "__main__":
    main()
