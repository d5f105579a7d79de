"""Request coalescing: concurrent misses for one key share one upstream fetch.

The fetch runs in its own task, so the client that started it may go away without failing the
others. If the fetch fails, waiters elect a new leader once (the first of them to wake); a
leader's own failure is its answer.
"""

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

ResultT = TypeVar("ResultT")


class Coalescer(Generic[ResultT]):
    def __init__(self, rounds: int = 2) -> None:
        self._inflight: dict[Hashable, asyncio.Future[ResultT]] = {}
        self._fetches: set[asyncio.Task[None]] = set()
        """The running fetches (the event loop keeps only weak references to tasks)."""
        self._rounds = rounds
        self.leaders = 0
        self.followers = 0

    def in_flight(self, key: Hashable) -> bool:
        return key in self._inflight

    def start(self, key: Hashable, fetch: Callable[[], Awaitable[ResultT]]) -> None:
        """Lead a fetch for ``key`` without waiting for it, unless one is already in flight
        (a background refresh: later callers of :meth:`run` share it)."""
        if key not in self._inflight:
            self._lead(key, fetch)
            self.leaders += 1

    async def run(
        self, key: Hashable, fetch: Callable[[], Awaitable[ResultT]]
    ) -> tuple[ResultT, bool]:
        """The fetch's result, and whether this caller led it."""
        for attempt in range(self._rounds):
            shared = self._inflight.get(key)
            led = shared is None
            if shared is None:
                shared = self._lead(key, fetch)
                self.leaders += 1
            else:
                self.followers += 1
            try:
                return await asyncio.shield(shared), led
            except asyncio.CancelledError:
                raise
            except Exception:
                if led or attempt == self._rounds - 1:
                    raise
        raise AssertionError("unreachable")

    def _lead(
        self, key: Hashable, fetch: Callable[[], Awaitable[ResultT]]
    ) -> "asyncio.Future[ResultT]":
        shared: asyncio.Future[ResultT] = asyncio.get_running_loop().create_future()
        self._inflight[key] = shared

        async def fetch_for_all() -> None:
            try:
                shared.set_result(await fetch())
            except BaseException as exc:  # every waiter sees the failure, then re-elects
                shared.set_exception(exc)
                shared.exception()  # retrieved: no "never retrieved" warning if nobody waits
            finally:
                self._inflight.pop(key, None)

        task = asyncio.create_task(fetch_for_all())
        self._fetches.add(task)
        task.add_done_callback(self._fetches.discard)
        return shared
