"""HTTP clients for the acquirer processes; network faults become attempt results.

Every call first meets the ``acquirer`` fault site (``fault.acquirer``): an injected failure is
an :class:`AcquirerFaultInjected`, an ``httpx.ConnectError`` as a refused connection gives; an
injected hang ends at the call's timeout as an ``httpx.ConnectTimeout``. Either way the
request never left, which is what the client then reports (unreached: safe to retry
elsewhere). An injected delay counts against the call's timeout, as a slow network would.
"""

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx

from payments.domain.routing import Attempt, AttemptResult
from stackkit import faults
from stackkit.faults import FaultInjected

# A connect failure proves the request never arrived; anything later might have.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout)
SITE = "acquirer"


class AcquirerFaultInjected(FaultInjected, httpx.ConnectError):
    """Like an acquirer that refuses the connection (``httpx.ConnectError``)."""


@dataclass
class AcquirerClient:
    name: str
    base_url: str
    http: httpx.AsyncClient
    timeout_s: float

    def _url(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}{path}"

    async def _send(
        self, method: str, path: str, payload: dict[str, object] | None = None
    ) -> httpx.Response:
        """One request to the acquirer, through the fault site, within ``timeout_s``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        try:
            async with asyncio.timeout_at(deadline):
                await faults.inject(SITE, AcquirerFaultInjected)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"fault injected at {SITE} (hang)") from None
        # What the fault's delay left of the budget; never zero, httpx reads 0 as no timeout.
        timeout = max(deadline - loop.time(), 0.001)
        kwargs: dict[str, Any] = {"timeout": timeout}
        if payload is not None:
            kwargs["json"] = payload
        return await self.http.request(method, self._url(path), **kwargs)

    @staticmethod
    def _attempt(name: str, body: dict[str, object]) -> Attempt:
        if body.get("status") == "declined":
            return Attempt(
                name, AttemptResult.DECLINED, str(body.get("decline_code") or "generic_decline")
            )
        return Attempt(name, AttemptResult.APPROVED)

    async def authorize(
        self, attempt_id: str, amount: int, currency: str, card_number: str, capture: bool
    ) -> Attempt:
        payload = {
            "attempt_id": attempt_id,
            "amount": amount,
            "currency": currency,
            "card_number": card_number,
            "capture": capture,
        }
        try:
            response = await self._send("POST", "/authorizations", payload)
        except _NEVER_SENT:
            return Attempt(self.name, AttemptResult.UNREACHED)
        except httpx.HTTPError:
            return Attempt(self.name, AttemptResult.TIMED_OUT)
        if response.status_code >= 500 or response.status_code == 409:
            return Attempt(self.name, AttemptResult.UNREACHED)
        response.raise_for_status()
        return self._attempt(self.name, response.json())

    async def reconcile(self, attempt_id: str) -> Attempt | None:
        """What the acquirer knows of an attempt; ``None`` while it cannot be asked."""
        try:
            response = await self._send("GET", f"/authorizations/{attempt_id}")
        except httpx.HTTPError:
            return None
        if response.status_code == 404:
            return Attempt(self.name, AttemptResult.UNREACHED)
        if response.status_code != 200:
            return None
        return self._attempt(self.name, response.json())

    async def _post(self, path: str, payload: dict[str, object] | None = None) -> None:
        response = await self._send("POST", path, payload or {})
        response.raise_for_status()

    async def capture(self, attempt_id: str, amount: int) -> None:
        await self._post(f"/authorizations/{attempt_id}/capture", {"amount": amount})

    async def void(self, attempt_id: str) -> None:
        await self._post(f"/authorizations/{attempt_id}/void")

    async def refund(self, attempt_id: str, refund_id: str, amount: int) -> None:
        await self._post(
            f"/authorizations/{attempt_id}/refunds", {"refund_id": refund_id, "amount": amount}
        )


def parse_acquirers(spec: str) -> dict[str, str]:
    """``"a=http://host:1,b=http://host:2"`` -> ``{"a": "http://host:1", "b": "http://host:2"}``."""
    result: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, sep, url = item.partition("=")
        if not sep or not name or not url.startswith("http"):
            raise ValueError(f"acquirer entries look like name=http://host:port, got {item!r}")
        result[name] = url
    if not result:
        raise ValueError("at least one acquirer is required")
    return result
