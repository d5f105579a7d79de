"""Periodic jobs that live as long as an app: started on its lifespan's exit stack."""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from typing import Any

from stackkit.logs import get_logger

log = get_logger(__name__)


def run_every(
    stack: AsyncExitStack, interval_s: float, work: Callable[[], Awaitable[object]], name: str
) -> None:
    """Run ``work`` every ``interval_s`` until the app stops; a failing run is logged, not fatal."""

    async def loop() -> None:
        while True:
            try:
                await work()
            except Exception:
                log.exception("periodic_job_failed", job=name)
            await asyncio.sleep(interval_s)

    run_until_stopped(stack, loop(), name)


def run_until_stopped(stack: AsyncExitStack, work: Coroutine[Any, Any, object], name: str) -> None:
    """Run ``work`` as a task, cancelled (and awaited) when the app stops."""
    task = asyncio.create_task(work, name=name)

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    stack.push_async_callback(stop)
