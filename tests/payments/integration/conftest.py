from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import stripe

from devstack.stack import NativeStack
from devstack.topology import ACQUIRERS

DEFAULT_PROFILE = {
    "latency_ms": 5,
    "soft_decline_rate": 0,
    "timeout_rate": 0,
    "error_rate": 0,
    "hang_s": 30,
}


@dataclass
class Merchant:
    id: str
    secret_key: str
    client: stripe.StripeClient
    base_url: str

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers={"authorization": f"Bearer {self.secret_key}"},
            timeout=30,
        )


def new_merchant(stack: NativeStack, name: str = "shop") -> Merchant:
    base_url = f"{stack.edge_url}/payments"
    created = httpx.post(f"{base_url}/dev/merchants", json={"name": name}, timeout=10).json()
    client = stripe.StripeClient(
        created["secret_key"], base_addresses={"api": base_url}, max_network_retries=2
    )
    return Merchant(created["id"], created["secret_key"], client, base_url)


@pytest.fixture
def merchant(native_stack: NativeStack) -> Merchant:
    return new_merchant(native_stack)


@pytest.fixture
def acquirers(native_stack: NativeStack) -> Iterator[dict[str, str]]:
    """Acquirer name -> URL; every profile is put back to normal afterwards."""
    urls = {name: native_stack.url(name) for name in ACQUIRERS}
    yield urls
    for url in urls.values():
        httpx.put(f"{url}/profile", json=DEFAULT_PROFILE, timeout=10).raise_for_status()


def set_profile(url: str, **changes: float) -> None:
    httpx.put(f"{url}/profile", json={**DEFAULT_PROFILE, **changes}, timeout=10).raise_for_status()


def acquirer_stats(urls: dict[str, str]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for url in urls.values():
        for name, value in httpx.get(f"{url}/stats", timeout=10).json().items():
            totals[name] = totals.get(name, 0) + value
    return totals
