"""SIGTERM for the processes uvicorn does not run: the chat gateways and the anycast entry.

As a container's PID 1 a process has no default signal actions, so an unhandled SIGTERM is
ignored: ``docker stop`` waits out its whole timeout, then SIGKILLs, and nothing shuts down
cleanly (a gateway's routes stay in Redis until they expire). Natively the default action kills
the process at once, just as uncleanly. uvicorn handles the signal itself; these do it here.
"""

import asyncio
import contextlib
import signal
from collections.abc import Coroutine
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def until_terminated(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` until it returns or SIGTERM/SIGINT arrives; a signal cancels it, so its
    ``finally`` blocks and exit stacks run, and then this returns normally (exit status 0)."""
    task = asyncio.ensure_future(main)
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, task.cancel)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
