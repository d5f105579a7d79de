"""Forwarding a trip request to the worker that owns its pickup's area.

The worker that owns a pickup's area decides the trip; any other worker passes the request on,
once. Who owns an area, and who decides, are ``dispatch.domain.ownership``'s rules; this module
asks them and carries the request over HTTP.
"""

from collections.abc import Mapping
from typing import Protocol

import httpx
from starlette.responses import Response

from dispatch.domain.geo import Point
from dispatch.domain.ownership import area_of, decides_here
from stackkit import tracing
from stackkit.logs import get_logger
from stackkit.middleware import REQUEST_ID_HEADER
from stackkit.request_context import current_request_id

log = get_logger(__name__)

FORWARDED = "x-dispatch-forwarded"
"""Set on a forwarded request, to the forwarding worker's id; the edge strips it from clients.
On the answer too: which worker received the request and passed it on."""
HANDLED_BY = "x-dispatch-worker"
"""On every trip answer: the worker that decided it."""


class Owners(Protocol):
    """The ring of live workers (:class:`dispatch.membership.Membership`)."""

    @property
    def worker_id(self) -> str: ...

    async def owner(self, area: str) -> tuple[str, str]:
        """(worker id, its URL) owning ``area``."""
        ...


class TripForwarding:
    """Decides whether a trip request is this worker's to decide, and forwards it if not."""

    def __init__(self, owners: Owners, peers: httpx.AsyncClient) -> None:
        self._owners = owners
        self._peers = peers

    @property
    def worker_id(self) -> str:
        return self._owners.worker_id

    async def forward(
        self, pickup: Point, body: bytes, headers: Mapping[str, str]
    ) -> Response | None:
        """The owner's answer to the request (``body``, JSON) as this worker's, or ``None`` when
        this worker decides: it owns the area, the request was forwarded here already (by
        ``headers``), or the owner cannot be reached (it just died; the trip's storage keeps it
        safe to decide here)."""
        area = area_of(pickup)
        owner, url = await self._owners.owner(area)
        if decides_here(owner, self.worker_id, forwarded=FORWARDED in headers):
            return None
        attributes = {
            "dispatch.area": area,
            "dispatch.owner": owner,
            "dispatch.worker": self.worker_id,
        }
        with tracing.span("dispatch.forward", attributes=attributes):
            log.info("trip_forwarded", area=area, owner=owner)
            # The owner's server span continues this trace (httpx's instrumentation injects
            # its own client span's context over this one where it is installed).
            sent = tracing.inject_http_headers(
                {"content-type": "application/json", FORWARDED: self.worker_id}
            )
            if (request_id := current_request_id()) is not None:
                sent[REQUEST_ID_HEADER] = request_id  # one id on both workers' log lines
            try:
                answer = await self._peers.post(f"{url}/v1/trips", content=body, headers=sent)
            except httpx.TransportError as exc:
                log.warning("trip_forward_failed", owner=owner, error=repr(exc))
                return None
            tracing.set_attribute("http.response.status_code", answer.status_code)
        return Response(
            answer.content,
            answer.status_code,
            media_type="application/json",
            headers={HANDLED_BY: answer.headers.get(HANDLED_BY, owner), FORWARDED: self.worker_id},
        )
