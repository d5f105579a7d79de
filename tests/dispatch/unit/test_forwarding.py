"""Forwarding a trip request to its area's owner: who decides, and what is carried."""

import json
from collections.abc import Callable

import httpx
import pytest

from dispatch.domain.geo import Point
from dispatch.domain.ownership import area_of, decides_here
from dispatch.forwarding import FORWARDED, HANDLED_BY, TripForwarding
from stackkit.middleware import REQUEST_ID_HEADER
from stackkit.request_context import set_request_id

PICKUP = Point(52.52, 13.405)
BODY = b'{"rider_id":"r"}'


@pytest.mark.parametrize(
    ("owner", "forwarded", "here"),
    [("me", False, True), ("me", True, True), ("other", False, False), ("other", True, True)],
)
def test_the_owner_decides_and_a_forwarded_request_is_never_forwarded_again(
    owner: str, forwarded: bool, here: bool
) -> None:
    assert decides_here(owner, "me", forwarded=forwarded) is here


class Ring:
    """Owners as the ring answers them: every area belongs to ``owner``."""

    def __init__(self, owner: str, worker_id: str = "me") -> None:
        self.worker_id = worker_id
        self._owner = owner
        self.asked: list[str] = []

    async def owner(self, area: str) -> tuple[str, str]:
        self.asked.append(area)
        return self._owner, f"http://{self._owner}.test"


def _peers(
    answer: Callable[[httpx.Request], httpx.Response],
) -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    sent: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answer(request)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle)), sent


def _unexpected(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"nothing should be forwarded, got {request.url}")


async def test_the_owner_decides_here_without_a_call() -> None:
    peers, sent = _peers(_unexpected)
    ring = Ring("me")
    assert await TripForwarding(ring, peers).forward(PICKUP, BODY, {}) is None
    assert ring.asked == [area_of(PICKUP)] and sent == []


async def test_a_request_forwarded_once_is_decided_where_it_arrived() -> None:
    peers, sent = _peers(_unexpected)
    forwarding = TripForwarding(Ring("other"), peers)
    assert await forwarding.forward(PICKUP, BODY, {FORWARDED: "someone"}) is None
    assert sent == []


async def test_another_owner_gets_the_request_and_its_answer_is_ours() -> None:
    peers, sent = _peers(
        lambda _: httpx.Response(409, content=b'{"error":{}}', headers={HANDLED_BY: "other-2"})
    )
    answer = await TripForwarding(Ring("other"), peers).forward(PICKUP, BODY, {})
    assert answer is not None
    assert (answer.status_code, answer.body) == (409, b'{"error":{}}')
    assert answer.headers[HANDLED_BY] == "other-2"
    assert answer.headers[FORWARDED] == "me", "who passed it on"
    assert answer.media_type == "application/json"
    (request,) = sent
    assert (request.method, str(request.url)) == ("POST", "http://other.test/v1/trips")
    assert request.content == BODY and json.loads(request.content) == {"rider_id": "r"}
    assert request.headers[FORWARDED] == "me"
    assert request.headers["content-type"] == "application/json"


async def test_an_answer_without_its_worker_is_credited_to_the_owner() -> None:
    peers, _ = _peers(lambda _: httpx.Response(200, content=b"{}"))
    answer = await TripForwarding(Ring("other"), peers).forward(PICKUP, BODY, {})
    assert answer is not None and answer.headers[HANDLED_BY] == "other"


@pytest.mark.parametrize(
    "failure", [httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError]
)
async def test_an_unreachable_owner_leaves_the_decision_here(
    failure: type[httpx.TransportError],
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise failure("the owner just died", request=request)

    peers, sent = _peers(fail)
    assert await TripForwarding(Ring("other"), peers).forward(PICKUP, BODY, {}) is None
    assert len(sent) == 1


async def test_the_worker_id_is_the_rings() -> None:
    peers, _ = _peers(_unexpected)
    assert TripForwarding(Ring("other", worker_id="dispatch-2"), peers).worker_id == "dispatch-2"


async def test_the_request_id_goes_along_so_both_workers_log_the_same_one() -> None:
    peers, sent = _peers(lambda _: httpx.Response(200, content=b"{}"))
    set_request_id("req-forwarded-1")
    try:
        await TripForwarding(Ring("other"), peers).forward(PICKUP, BODY, {})
    finally:
        set_request_id(None)
    (request,) = sent
    assert request.headers[REQUEST_ID_HEADER] == "req-forwarded-1"
