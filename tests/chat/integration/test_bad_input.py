"""Bad input to chat's Web API through slack_sdk, on real Postgres: a NUL byte in a channel,
user list, text or client_msg_id, and a history cursor past bigint, are Slack errors
(``SlackApiError``), never a 500 (``fatal_error``)."""

import base64
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from devstack.stack import NativeStack

pytestmark = pytest.mark.integration

NUL = "a\x00b"


def _person(api: str, name: str) -> tuple[str, WebClient]:
    created = httpx.post(f"{api}/dev/users", json={"name": f"{name}-{uuid.uuid4().hex[:6]}"})
    created.raise_for_status()
    return created.json()["id"], WebClient(token=created.json()["token"], base_url=f"{api}/api/")


@pytest.fixture(scope="module")
def team(origins: NativeStack) -> tuple[WebClient, str, str]:
    """Ada's client, her channel, and Bob's user id."""
    api = origins.url("chat")
    _, ada = _person(api, "ada")
    bob_id, _ = _person(api, "bob")
    channel = ada.conversations_create(name=f"c-{uuid.uuid4().hex[:10]}")["channel"]["id"]
    return ada, channel, bob_id


def _seq_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(f"seq:{value}".encode()).decode()


def _calls(ada: WebClient, channel: str, bob: str) -> dict[str, Callable[[], Any]]:
    return {
        "join channel": lambda: ada.conversations_join(channel=NUL),
        "history channel": lambda: ada.conversations_history(channel=NUL),
        "members channel": lambda: ada.conversations_members(channel=NUL),
        "invite users": lambda: ada.conversations_invite(channel=channel, users=f"{bob},{NUL}"),
        "post channel": lambda: ada.chat_postMessage(channel=NUL, text="hi"),
        "post text": lambda: ada.chat_postMessage(channel=channel, text=NUL),
        "post client_msg_id": lambda: ada.api_call(
            "chat.postMessage", params={"channel": channel, "text": "hi", "client_msg_id": NUL}
        ),
        "post as JSON": lambda: ada.api_call(
            "chat.postMessage", json={"channel": channel, "text": NUL}
        ),
        "presence user": lambda: ada.users_getPresence(user=NUL),
        "create name": lambda: ada.conversations_create(name=NUL),
        "history cursor past bigint": lambda: ada.conversations_history(
            channel=channel, cursor=_seq_cursor(str(2**63))
        ),
        "history cursor of 5,000 digits": lambda: ada.conversations_history(
            channel=channel, cursor=_seq_cursor("9" * 5000)
        ),
    }


CASES = list(_calls(WebClient(), "C", "U"))


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_a_slack_error(team: tuple[WebClient, str, str], case: str) -> None:
    ada, channel, bob = team
    with pytest.raises(SlackApiError) as raised:
        _calls(ada, channel, bob)[case]()
    assert raised.value.response.status_code == 200, raised.value.response.data
    assert raised.value.response["error"] in ("invalid_arguments", "invalid_cursor"), (
        raised.value.response.data
    )


def test_the_development_routes_keep_the_stacks_error_shape(origins: NativeStack) -> None:
    answer = httpx.post(f"{origins.url('chat')}/dev/users", json={"name": NUL})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == "name"
