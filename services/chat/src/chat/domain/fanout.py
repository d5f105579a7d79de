"""Fanout planning: one message, many recipients, grouped by the gateway holding each one."""

from collections.abc import Mapping, Set


def plan_deliveries(
    members: Set[str], users_by_gateway: Mapping[str, Set[str]]
) -> dict[str, list[str]]:
    """For each gateway, the channel members connected to it (set intersections, so a 10,000
    member channel costs a few C-level set operations, not 10,000 lookups)."""
    plan = {}
    for gateway, users in users_by_gateway.items():
        recipients = members & users if len(members) < len(users) else users & members
        if recipients:
            plan[gateway] = sorted(recipients)
    return plan
