import asyncio

import pytest

from edge.coalescing import Coalescer


class GatedFetch:
    """A fetch that counts its calls and answers ``result`` once released."""

    def __init__(self, result: str) -> None:
        self.result = result
        self.release = asyncio.Event()
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        await self.release.wait()
        return self.result


async def test_a_thousand_concurrent_callers_share_one_fetch() -> None:
    coalescer: Coalescer[str] = Coalescer()
    fetch = GatedFetch("body")
    callers = [asyncio.create_task(coalescer.run("k", fetch)) for _ in range(1000)]
    await asyncio.sleep(0)
    fetch.release.set()
    results = await asyncio.gather(*callers)
    assert fetch.calls == 1
    assert [led for _, led in results].count(True) == 1
    assert {value for value, _ in results} == {"body"}
    assert not coalescer.in_flight("k")


async def test_followers_elect_a_new_leader_once_when_the_fetch_fails() -> None:
    coalescer: Coalescer[str] = Coalescer()
    release = asyncio.Event()
    calls = 0

    async def fetch() -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        if calls == 1:
            raise ConnectionError("origin reset")
        return "second try"

    leader = asyncio.create_task(coalescer.run("k", fetch))
    await asyncio.sleep(0)
    followers = [asyncio.create_task(coalescer.run("k", fetch)) for _ in range(50)]
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(ConnectionError):
        await leader
    results = await asyncio.gather(*followers)
    assert calls == 2
    assert {value for value, _ in results} == {"second try"}
    assert [led for _, led in results].count(True) == 1


async def test_a_cancelled_leader_does_not_fail_the_others() -> None:
    coalescer: Coalescer[str] = Coalescer()
    fetch = GatedFetch("done")
    leader = asyncio.create_task(coalescer.run("k", fetch))
    await asyncio.sleep(0)
    follower = asyncio.create_task(coalescer.run("k", fetch))
    await asyncio.sleep(0)
    leader.cancel()  # the leader's client went away
    fetch.release.set()
    assert await follower == ("done", False)
    assert fetch.calls == 1


async def test_a_background_start_is_shared_by_later_callers() -> None:
    coalescer: Coalescer[str] = Coalescer()
    fetch = GatedFetch("refreshed")
    coalescer.start("k", fetch)
    coalescer.start("k", fetch)  # already in flight: no second fetch
    waiter = asyncio.create_task(coalescer.run("k", fetch))
    await asyncio.sleep(0)
    fetch.release.set()
    assert await waiter == ("refreshed", False)
    assert fetch.calls == 1
