"""What a flag costs a hot path: ``python -m tests.flags.measure_cost``.

Prints nanoseconds per call for reading a switch from the snapshot (no provider, and with the
file provider running), the fault check at an unarmed site, and, for comparison, one
OpenFeature evaluation through the flagd provider (what the snapshot saves every call).
"""

import asyncio
import os
import shutil
import tempfile
import timeit
from pathlib import Path

from openfeature import api

from stackkit import flags
from stackkit.faults import inject, postgres_fault_on_acquire
from stackkit.flags import ARMED_FAULTS

REPO_FLAG_FILE = Path(__file__).parents[2] / "infra" / "flags" / "flags.flagd.json"
CALLS = 200_000


def per_call_ns(statement: str, namespace: dict[str, object], calls: int = CALLS) -> float:
    best = min(timeit.repeat(statement, globals=namespace, number=calls, repeat=5))
    return best / calls * 1e9


async def per_await_ns(factory: object, calls: int = CALLS) -> float:
    loop = asyncio.get_running_loop()
    best = float("inf")
    for _ in range(5):
        started = loop.time()
        for _ in range(calls):
            await factory()  # type: ignore[operator]
        best = min(best, loop.time() - started)
    return best / calls * 1e9


async def measure(label: str) -> None:
    namespace: dict[str, object] = {"flags": flags, "ARMED_FAULTS": ARMED_FAULTS}
    print(f"-- {label} (source: {flags.status().source})")
    for statement in ("flags.choice('dispatch.search')", "ARMED_FAULTS.get('redis')"):
        print(f"  {statement:36} {per_call_ns(statement, namespace):7.1f} ns")
    unarmed = {
        "await inject('cassandra')": lambda: inject("cassandra"),
        "await postgres_fault_on_acquire(...)": lambda: postgres_fault_on_acquire(None),
    }
    for name, factory in unarmed.items():
        print(f"  {name:36} {await per_await_ns(factory):7.1f} ns")


async def main() -> None:
    for name in ("FLAGD_OFFLINE_FLAG_SOURCE_PATH", "FLAGD_RESOLVER", "FLAGD_HOST"):
        os.environ.pop(name, None)
    flags.start_flags(production=False)
    await flags.wait_for_flags()
    await measure("flags unset")
    flags.stop_flags(production=False)

    directory = Path(tempfile.mkdtemp())
    path = directory / "flags.flagd.json"
    shutil.copyfile(REPO_FLAG_FILE, path)
    os.environ["FLAGD_RESOLVER"] = "file"
    os.environ["FLAGD_OFFLINE_FLAG_SOURCE_PATH"] = str(path)
    flags.start_flags(production=False)
    await flags.wait_for_flags()
    await measure("flags set (file provider)")
    client = api.get_client(flags.DOMAIN)
    namespace: dict[str, object] = {"client": client}
    statement = "client.get_string_value('dispatch.search', 'h3_rings')"
    evaluation = per_call_ns(statement, namespace, 20_000)
    print(f"  {'one OpenFeature evaluation':36} {evaluation:7.1f} ns (what the snapshot avoids)")
    flags.stop_flags(production=False)
    shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
