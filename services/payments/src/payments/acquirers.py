"""HTTP clients for the acquirer processes; network faults become attempt results."""

from dataclasses import dataclass

import httpx

from payments.domain.routing import Attempt, AttemptResult

# A connect failure proves the request never arrived; anything later might have.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout)


@dataclass
class AcquirerClient:
    name: str
    base_url: str
    http: httpx.AsyncClient
    timeout_s: float

    def _url(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}{path}"

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
            response = await self.http.post(
                self._url("/authorizations"), json=payload, timeout=self.timeout_s
            )
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
            response = await self.http.get(
                self._url(f"/authorizations/{attempt_id}"), timeout=self.timeout_s
            )
        except httpx.HTTPError:
            return None
        if response.status_code == 404:
            return Attempt(self.name, AttemptResult.UNREACHED)
        if response.status_code != 200:
            return None
        return self._attempt(self.name, response.json())

    async def _post(self, path: str, payload: dict[str, object] | None = None) -> None:
        response = await self.http.post(self._url(path), json=payload or {}, timeout=self.timeout_s)
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
