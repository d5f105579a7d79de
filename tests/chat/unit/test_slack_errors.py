"""The Web API answers a domain error by its ``code``, through one table: what the message
says plays no part."""

from collections.abc import Callable

import pytest

from chat.api import SLACK_ERRORS, slack_error
from chat.domain.channels import (
    ChannelAccess,
    require_existing,
    require_known_users,
    require_member,
)
from chat.domain.slack import decode_cursor, encode_cursor, parse_ts
from stackkit.errors import Conflict, DomainError, Invalid, NotFound


def _raised(call: Callable[[], object]) -> DomainError:
    with pytest.raises(DomainError) as raised:
        call()
    return raised.value


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: require_existing(None), "channel_not_found"),
        (lambda: require_member(ChannelAccess(is_private=True, is_member=False)),
         "channel_not_found"),
        (lambda: require_member(ChannelAccess(is_private=False, is_member=False)),
         "not_in_channel"),
        (lambda: require_known_users(["UX"], set()), "user_not_found"),
        (lambda: decode_cursor("%%%", "seq"), "invalid_cursor"),
        (lambda: decode_cursor(encode_cursor("user", "U1"), "seq"), "invalid_cursor"),
        (lambda: parse_ts("yesterday", param="oldest"), "invalid_arguments"),
    ],
)  # fmt: skip
def test_each_domain_refusal_answers_as_its_slack_error(
    call: Callable[[], object], error: str
) -> None:
    assert slack_error(_raised(call)) == error


def test_every_code_in_the_table_is_a_slack_error_of_its_own_name() -> None:
    """Chat's codes are Slack's documented errors; the table lists which ones a client sees."""
    assert all(SLACK_ERRORS[code] == code for code in SLACK_ERRORS)
    assert set(SLACK_ERRORS) == {"channel_not_found", "not_in_channel", "user_not_found",
                                 "name_taken", "invalid_cursor"}  # fmt: skip


@pytest.mark.parametrize(
    "error",
    [
        Invalid("invalid"),
        NotFound("channel_not_found"),  # a message that looks like a code is only a message
        Conflict("a user named ada exists", param="name"),
        Invalid("x", code="cant_parse_this_one"),
    ],
)
def test_any_other_code_is_invalid_arguments(error: DomainError) -> None:
    assert slack_error(error) == "invalid_arguments"


def test_a_code_is_answered_whatever_the_message_says() -> None:
    assert slack_error(Conflict("a channel named general exists", code="name_taken")) == (
        "name_taken"
    )
