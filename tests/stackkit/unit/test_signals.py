"""until_terminated: SIGTERM ends the process cleanly, as PID 1 in a container too (where an
unhandled SIGTERM is ignored and `docker stop` ends in a SIGKILL)."""

import signal
import subprocess
import sys

import pytest

PROGRAM = """
import asyncio
from stackkit.signals import until_terminated

async def main() -> None:
    try:
        print("serving", flush=True)
        await asyncio.Event().wait()
    finally:
        print("cleaned up", flush=True)

asyncio.run(until_terminated(main()))
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_stop_signal_runs_the_cleanup_and_exits_0(signum: signal.Signals) -> None:
    process = subprocess.Popen([sys.executable, "-c", PROGRAM], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    try:
        assert process.stdout.readline().strip() == "serving"
        process.send_signal(signum)
        assert process.wait(timeout=30) == 0
        assert process.stdout.read().strip() == "cleaned up"
    finally:
        process.kill()
