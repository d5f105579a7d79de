"""Who may see and use a channel: Slack's visibility and membership rules.

The store answers questions (does the channel exist, is it private, is this user in it) and
these functions decide. A private channel does not exist for anyone outside it: an outsider
gets ``channel_not_found``, exactly as for an id nobody ever created, so neither its name nor
its existence leaks. A public channel is visible to everybody, but reading its history, listing
its members, posting or inviting to it takes membership (``not_in_channel``).
"""

from collections.abc import Iterable, Set
from dataclasses import dataclass
from typing import TypeVar

from stackkit.errors import Invalid, NotFound

T = TypeVar("T")


@dataclass(frozen=True)
class ChannelAccess:
    """How one user stands to one existing channel."""

    is_private: bool
    is_member: bool

    @property
    def visible(self) -> bool:
        """Listing channels applies the same rule in SQL (it pages over visible ones)."""
        return self.is_member or not self.is_private


def _channel_not_found() -> NotFound:
    return NotFound("no such channel, or not one the user may see", code="channel_not_found",
                    param="channel")  # fmt: skip


def require_existing(found: T | None) -> T:
    """What the store found about a channel, or ``channel_not_found`` when it found nothing.
    Enough for leaving: whoever is in a channel may leave it, private or public."""
    if found is None:
        raise _channel_not_found()
    return found


def require_visible(access: ChannelAccess | None) -> ChannelAccess:
    """``access`` is None when the channel does not exist; a private channel the user is not
    in is ``channel_not_found`` just the same."""
    if access is None or not access.visible:
        raise _channel_not_found()
    return access


def require_member(access: ChannelAccess | None) -> None:
    """Reading, posting and inviting: ``channel_not_found`` if the user may not even see the
    channel, ``not_in_channel`` if they see it but are not in it."""
    if not require_visible(access).is_member:
        raise Invalid("the user is not in the channel", code="not_in_channel", param="channel")


def join_adds_member(access: ChannelAccess | None) -> bool:
    """Whether joining should add the user (who may turn out to be in already). A public
    channel is open to all; a private one takes an invitation, so its members have nothing to
    do (False) and anyone else does not see it (``channel_not_found``)."""
    return not require_visible(access).is_private


def require_known_users(requested: Iterable[str], known: Set[str]) -> None:
    """Invitations name existing users only: ``user_not_found`` names the first unknown one."""
    if missing := [user for user in requested if user not in known]:
        raise NotFound(f"no user {missing[0]}", code="user_not_found", param=missing[0])
