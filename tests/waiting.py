"""Waiting on conditions in tests: never sleep for synchronisation."""

import asyncio
import time
from collections.abc import Awaitable, Callable


async def eventually(
    condition: Callable[[], Awaitable[bool]],
    *,
    timeout_s: float = 20.0,
    what: str | Callable[[], str] = "condition",
) -> None:
    """``what`` may be a function, called only on timeout (say, to read a log tail)."""
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            described = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout_s}s waiting for {described}")
        await asyncio.sleep(0.05)
