"""Where a webhook may be sent: the URL's host is resolved and every address it has is checked,
when the endpoint is registered and again before each delivery (DNS can change in between:
rebinding), and the delivery then connects to the address that was checked."""

import asyncio
import socket
from dataclasses import dataclass
from typing import Protocol

import httpx

from payments.domain.webhooks import refused_address


class Resolver(Protocol):
    async def __call__(self, host: str, port: int) -> list[str]:
        """The IP addresses ``host`` resolves to, in the order to try them."""
        ...


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class TargetRefused(Exception):
    """The URL may not be a webhook target; the message says why, for the API's 400."""


@dataclass(frozen=True)
class Target:
    """How to reach a webhook URL: connect to ``url`` and send ``headers`` and ``extensions``
    (with a pinned address, the original host travels as Host and as the TLS server name)."""

    url: str
    headers: dict[str, str]
    extensions: dict[str, str]


async def resolve_target(
    url: str, *, allow_private: bool, resolver: Resolver = system_resolver
) -> Target:
    """Check ``url`` as a webhook target; raises :class:`TargetRefused` with the reason."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise TargetRefused(f"{url!r} is not a valid URL") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise TargetRefused("the URL must be http(s) with a host")
    if allow_private:
        return Target(url, {}, {})
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses = await resolver(parsed.host, port)
    except (OSError, UnicodeError) as exc:
        raise TargetRefused(f"the host {parsed.host} cannot be resolved") from exc
    if not addresses:
        raise TargetRefused(f"the host {parsed.host} cannot be resolved")
    for address in addresses:
        reason = refused_address(address)
        if reason is not None:
            raise TargetRefused(
                f"the host {parsed.host} resolves to {address} ({reason} address); webhooks "
                "must target public addresses"
            )
    pinned = parsed.copy_with(host=addresses[0])
    extensions = {"sni_hostname": parsed.host} if parsed.scheme == "https" else {}
    return Target(str(pinned), {"host": parsed.netloc.decode("ascii")}, extensions)
