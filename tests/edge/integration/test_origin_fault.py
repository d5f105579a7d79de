"""``fault.origin`` where the PoP meets it, its upstream client: flipped in a flag file, an
attempt at an origin fails as a refused connection does (every URL noted unreachable, the
request never arrives), a hang ends at the attempt's timeout as a hung origin's does, the health
probe says down; flipped back, the same calls reach the origin again."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from devstack.processes import free_port
from devstack.scripted_origin import Script, ScriptedOrigin, scripted_origin
from edge import upstream
from edge.upstream import OriginFaultInjected, UpstreamFailed
from stackkit.faults import FaultInjected
from tests.flags.running import FlagFile, running_flags, within_a_flip

pytestmark = pytest.mark.integration
PATH = "/thing"


@pytest.fixture
async def flag_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FlagFile]:
    async with running_flags(tmp_path, monkeypatch) as file:
        yield file


@pytest.fixture
def origin() -> Iterator[ScriptedOrigin]:
    with scripted_origin() as scripted:
        scripted.scripts[PATH] = Script(b"from the origin")
        yield scripted


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with upstream.open_session(10) as opened:
        yield opened


async def attempt(
    session: aiohttp.ClientSession, urls: list[str], timeout_s: float = 5.0
) -> tuple[upstream.UpstreamResponse | UpstreamFailed, list[str]]:
    """One request as the proxy sends it: the response or the failure, and the URLs it was
    told were unreachable."""
    unreachable: list[str] = []
    try:
        response = await upstream.send(
            session,
            "GET",
            urls,
            [],
            b"",
            timeout_s=timeout_s,
            max_body_bytes=1024,
            on_unreachable=unreachable.append,
        )
    except UpstreamFailed as failure:
        return failure, unreachable
    return response, unreachable


async def test_origin_down_fails_like_a_refused_connection_then_recovers(
    flag_file: FlagFile, origin: ScriptedOrigin, session: aiohttp.ClientSession
) -> None:
    urls = [f"{origin.url}{PATH}", f"{origin.url}{PATH}"]
    answer, _ = await attempt(session, urls)
    assert isinstance(answer, upstream.UpstreamResponse) and answer.body == b"from the origin"
    assert await upstream.probe(session, origin.url)  # 404 for /readyz: alive
    # What a really unreachable origin gives, to compare with.
    closed = [f"http://127.0.0.1:{free_port()}{PATH}"] * 2
    real, real_unreachable = await attempt(session, closed)
    assert isinstance(real, UpstreamFailed) and isinstance(real.__cause__, aiohttp.ClientError)

    flag_file.set("fault.origin", "down")

    async def failing() -> bool:
        return isinstance((await attempt(session, urls))[0], UpstreamFailed)

    await within_a_flip(failing, "fault.origin=down failing the request")
    hits = origin.hits[PATH]
    failure, unreachable = await attempt(session, urls)
    assert isinstance(failure, UpstreamFailed)
    assert failure.timed_out is real.timed_out is False  # a 502, as for the closed port
    cause = failure.__cause__
    assert isinstance(cause, OriginFaultInjected)
    assert isinstance(cause, FaultInjected) and isinstance(cause, aiohttp.ClientConnectorError)
    assert "fault.origin" in str(cause) and "fault.origin" in repr(cause)
    assert unreachable == urls and real_unreachable == closed  # both URLs noted, as for real
    assert origin.hits[PATH] == hits  # nothing reached the origin
    assert not await upstream.probe(session, origin.url)

    flag_file.set("fault.origin", "off")

    async def answering() -> bool:
        answer, _ = await attempt(session, urls)
        return isinstance(answer, upstream.UpstreamResponse)

    await within_a_flip(answering, "the origin answering with fault.origin=off")
    assert await upstream.probe(session, origin.url)
    assert origin.hits[PATH] == hits + 1


async def test_origin_hang_ends_at_the_attempts_timeout(
    flag_file: FlagFile, origin: ScriptedOrigin, session: aiohttp.ClientSession
) -> None:
    urls = [f"{origin.url}{PATH}"] * 2
    flag_file.set("fault.origin", "hang")

    async def timing_out() -> bool:
        return isinstance((await attempt(session, urls, timeout_s=0.3))[0], UpstreamFailed)

    await within_a_flip(timing_out, "fault.origin=hang timing the request out")
    hits = origin.hits[PATH]
    failure, unreachable = await attempt(session, urls, timeout_s=0.3)
    assert isinstance(failure, UpstreamFailed) and failure.timed_out  # a 504, not a 502
    assert isinstance(failure.__cause__, TimeoutError)
    assert unreachable == []  # a hung origin is not a refused one: no second URL tried
    assert origin.hits[PATH] == hits
    flag_file.set("fault.origin", "off")

    async def answering() -> bool:
        return isinstance((await attempt(session, urls))[0], upstream.UpstreamResponse)

    await within_a_flip(answering, "the origin answering after the hang")
