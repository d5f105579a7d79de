"""The ``acquirer`` fault site in payments' acquirer client, driven through a flag file (the
real provider, no servers: the acquirer is an ``httpx.MockTransport``). A flip changes what
the client reports within a flip, and what it reports is what a real outage gives."""

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from payments.acquirers import AcquirerClient, AcquirerFaultInjected
from payments.domain.routing import AttemptResult
from tests.flags.running import FlagFile, running_flags, within_a_flip

pytestmark = pytest.mark.integration

TIMEOUT_S = 0.5


class Acquirer:
    """Approves everything and notes what reached it, with the timeout each request carried."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, float]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions["timeout"]["read"]
        self.seen.append((request.url.path, timeout))
        return httpx.Response(200, json={"status": "approved"})


@pytest.fixture
async def flag_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FlagFile]:
    async with running_flags(tmp_path, monkeypatch) as file:
        yield file


@pytest.fixture
async def acquirer() -> AsyncIterator[tuple[Acquirer, AcquirerClient]]:
    fake = Acquirer()
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake.handle)) as http:
        yield fake, AcquirerClient("acquirer-a", "http://acquirer-a", http, TIMEOUT_S)


async def authorize(client: AcquirerClient) -> AttemptResult:
    attempt = await client.authorize("att_1", 1000, "usd", "4242424242424242", capture=True)
    return attempt.result


async def test_down_is_a_refused_connection_everywhere_then_recovers(
    flag_file: FlagFile, acquirer: tuple[Acquirer, AcquirerClient]
) -> None:
    fake, client = acquirer
    assert await authorize(client) is AttemptResult.APPROVED
    flag_file.set("fault.acquirer", "down")

    async def unreached() -> bool:
        return await authorize(client) is AttemptResult.UNREACHED

    await within_a_flip(unreached, "authorizations unreached with fault.acquirer=down")
    reached = len(fake.seen)
    assert await client.reconcile("att_1") is None, "cannot be asked: outcome still unknown"
    with pytest.raises(httpx.ConnectError) as refused:  # what capture's callers catch
        await client.capture("att_1", 1000)
    assert isinstance(refused.value, AcquirerFaultInjected)
    assert len(fake.seen) == reached, "nothing reached the acquirer while it was down"

    flag_file.restore()

    async def approved() -> bool:
        return await authorize(client) is AttemptResult.APPROVED

    await within_a_flip(approved, "authorizations approved again")


async def test_a_hang_ends_at_the_call_s_timeout_as_never_sent(
    flag_file: FlagFile, acquirer: tuple[Acquirer, AcquirerClient]
) -> None:
    fake, client = acquirer
    flag_file.set("fault.acquirer", "hang")

    async def hung() -> bool:
        started = time.monotonic()
        result = await authorize(client)
        return result is AttemptResult.UNREACHED and time.monotonic() - started >= TIMEOUT_S

    await within_a_flip(hung, "a hung acquirer call ending at its timeout")
    seen = len(fake.seen)
    started = time.monotonic()
    assert await client.reconcile("att_1") is None
    assert time.monotonic() - started < TIMEOUT_S * 3, "bounded by the timeout, not the hang"
    assert len(fake.seen) == seen


async def test_injected_latency_counts_against_the_call_s_timeout(
    flag_file: FlagFile, acquirer: tuple[Acquirer, AcquirerClient]
) -> None:
    fake, client = acquirer
    flag_file.set("fault.acquirer", "slow")  # 200 ms, 50 ms jitter

    async def slowed() -> bool:
        before = len(fake.seen)
        assert await authorize(client) is AttemptResult.APPROVED
        return fake.seen[before][1] < TIMEOUT_S - 0.1

    await within_a_flip(slowed, "acquirer calls delayed")
    assert fake.seen[-1][1] > 0, "what is left of the budget, never no timeout at all"
