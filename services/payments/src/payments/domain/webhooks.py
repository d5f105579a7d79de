"""Webhook rules: which endpoints get an event, Stripe's signature, the retry schedule and which
network addresses a webhook may target."""

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

GIVE_UP_AFTER_S = 3 * 24 * 3600.0
"""Stripe retries a failing endpoint for up to three days; so do we."""

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def signature_header(payload: bytes, secret: str, timestamp: int) -> str:
    """``Stripe-Signature: t=...,v1=...``, the HMAC-SHA256 of ``"{t}.{payload}"`` by secret."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def wants(enabled_events: Iterable[str], event_type: str) -> bool:
    return any(pattern in ("*", event_type) for pattern in enabled_events)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter, bounded by ``max_s``, for up to ``give_up_after_s``."""

    base_s: float = 1.0
    max_s: float = 3600.0
    give_up_after_s: float = GIVE_UP_AFTER_S

    def delay_s(self, attempts: int, age_s: float, unit: float) -> float | None:
        """Seconds until the next try after ``attempts`` failures of a delivery ``age_s`` old;
        ``None`` once we give up. ``unit`` is a random number in [0, 1): the jitter.

        "Equal jitter": half the step is fixed, half random, so endpoints failing together
        (one receiver down for many merchants' events) spread out without a retry ever
        coming sooner than half its step or later than ``max_s``."""
        if age_s >= self.give_up_after_s:
            return None
        # The exponent is capped so 2**n never overflows a float, whatever ``attempts`` is.
        step = min(self.base_s * 2.0 ** min(max(attempts - 1, 0), 60), self.max_s)
        return step / 2 + step / 2 * min(max(unit, 0.0), 1.0)


def refused_address(address: str) -> str | None:
    """Why a webhook may not target ``address`` (an IP literal), or ``None`` if it is public.

    IPv4 inside IPv6 (mapped, NAT64) is judged as the IPv4 address it reaches, so
    ``::ffff:127.0.0.1`` is loopback."""
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address)
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("non-public", not ip.is_global),
    )
    return next((kind for kind, refused in checks if refused), None)
