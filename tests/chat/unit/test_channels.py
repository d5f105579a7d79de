"""Channel visibility and membership rules, over every way a user can stand to a channel."""

import pytest

from chat.domain.channels import (
    ChannelAccess,
    join_adds_member,
    require_existing,
    require_known_users,
    require_member,
    require_visible,
)
from stackkit.errors import DomainError, Invalid, NotFound

MISSING = None
PUBLIC_MEMBER = ChannelAccess(is_private=False, is_member=True)
PUBLIC_OUTSIDER = ChannelAccess(is_private=False, is_member=False)
PRIVATE_MEMBER = ChannelAccess(is_private=True, is_member=True)
PRIVATE_OUTSIDER = ChannelAccess(is_private=True, is_member=False)
EVERY_STANDING = [MISSING, PUBLIC_MEMBER, PUBLIC_OUTSIDER, PRIVATE_MEMBER, PRIVATE_OUTSIDER]


def _refusal(error: DomainError) -> tuple[type[DomainError], str, str | None]:
    return type(error), error.code, error.param


@pytest.mark.parametrize(
    ("access", "visible"),
    [(PUBLIC_MEMBER, True), (PUBLIC_OUTSIDER, True), (PRIVATE_MEMBER, True),
     (PRIVATE_OUTSIDER, False)],
)  # fmt: skip
def test_only_outsiders_of_a_private_channel_do_not_see_it(
    access: ChannelAccess, visible: bool
) -> None:
    assert access.visible is visible


@pytest.mark.parametrize("access", [MISSING, PRIVATE_OUTSIDER])
def test_a_missing_channel_and_someone_elses_private_one_look_the_same(
    access: ChannelAccess | None,
) -> None:
    """Nothing tells an outsider that a private channel exists."""
    for rule in (require_visible, require_member, join_adds_member):
        with pytest.raises(NotFound) as refused:
            rule(access)
        assert _refusal(refused.value) == (NotFound, "channel_not_found", "channel")


@pytest.mark.parametrize("access", [PUBLIC_MEMBER, PUBLIC_OUTSIDER, PRIVATE_MEMBER])
def test_a_visible_channel_is_handed_back(access: ChannelAccess) -> None:
    assert require_visible(access) is access


@pytest.mark.parametrize("access", [PUBLIC_MEMBER, PRIVATE_MEMBER])
def test_members_may_read_post_and_invite(access: ChannelAccess) -> None:
    require_member(access)


def test_an_outsider_of_a_public_channel_is_not_in_channel() -> None:
    with pytest.raises(Invalid) as refused:
        require_member(PUBLIC_OUTSIDER)
    assert _refusal(refused.value) == (Invalid, "not_in_channel", "channel")
    assert not isinstance(refused.value, NotFound)


@pytest.mark.parametrize(
    ("access", "adds"),
    [(PUBLIC_MEMBER, True), (PUBLIC_OUTSIDER, True), (PRIVATE_MEMBER, False)],
)
def test_anyone_joins_a_public_channel_but_a_private_one_takes_an_invitation(
    access: ChannelAccess, adds: bool
) -> None:
    """A public channel's member joining again is a no-op the store finds out (``ON CONFLICT``);
    a private channel's member has nothing to do; its outsiders do not see it (above)."""
    assert join_adds_member(access) is adds


@pytest.mark.parametrize("found", [0, 41, "C1", *EVERY_STANDING[1:]])
def test_whatever_the_store_found_about_a_channel_is_handed_back(found: object) -> None:
    assert require_existing(found) is found


def test_a_channel_the_store_did_not_find_is_channel_not_found() -> None:
    with pytest.raises(NotFound) as refused:
        require_existing(None)
    assert _refusal(refused.value) == (NotFound, "channel_not_found", "channel")


def test_invitations_name_known_users_only() -> None:
    require_known_users(["U1", "U2", "U1"], {"U1", "U2", "U3"})
    require_known_users([], set())
    with pytest.raises(NotFound) as refused:
        require_known_users(["U1", "UX", "UY"], {"U1"})
    assert _refusal(refused.value) == (NotFound, "user_not_found", "UX"), "the first unknown"
