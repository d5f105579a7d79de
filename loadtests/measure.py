"""What the benchmarks share: percentiles, timing calls one by one or many at a time, Zipf."""

import asyncio
import bisect
import itertools
import random
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence


def p50(values: Sequence[float]) -> float:
    return statistics.median(values)


def p99(values: Sequence[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.99) - 1)]


def latency_rows(
    subject: str, detail: str, values: Sequence[float], baseline: Sequence[float] | float
) -> list[dict[str, object]]:
    """Report rows for the p50 and p99 of ``values`` (ms) beside the baseline's samples, or
    beside one target for both: ``"nearby", ", over HTTP"`` -> ``nearby p50 ms, over HTTP``."""
    if isinstance(baseline, float | int):
        base_p50 = base_p99 = float(baseline)
    else:
        base_p50, base_p99 = p50(baseline), p99(baseline)
    return [
        {"metric": f"{subject} p50 ms{detail}", "value": p50(values), "baseline": base_p50},
        {"metric": f"{subject} p99 ms{detail}", "value": p99(values), "baseline": base_p99},
    ]


async def timed(calls: Sequence[Callable[[], Awaitable[object]]]) -> list[float]:
    """Each call's latency in ms, one after another."""
    latencies = []
    for call in calls:
        started = time.perf_counter()
        await call()
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def bounded(concurrency: int, calls: Sequence[Callable[[], Awaitable[object]]]) -> float:
    """Run every call, ``concurrency`` at a time; the seconds it took."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(call: Callable[[], Awaitable[object]]) -> None:
        async with semaphore:
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(one(call) for call in calls))
    return time.perf_counter() - started


def zipf_sampler(n: int, rng: random.Random) -> Callable[[], int]:
    """Ranks 0..n-1 drawn with probability proportional to 1 / (rank + 1)."""
    cumulative = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(n)))
    total = cumulative[-1]
    return lambda: bisect.bisect_left(cumulative, rng.random() * total)
