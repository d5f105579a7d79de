"""Locust: people using chat over the Slack-style Web API, through the edge.

    uv run locust -f loadtests/chat_locust.py --host http://127.0.0.1:8080

At the start the scenario seeds channels of realistic sizes, from a two-person conversation to
an all-hands of 10,000 members (``CHAT_LOCUST_CHANNEL_SIZES``, comma-separated; members are
created through ``/chat/dev/users/batch`` and added with ``conversations.invite``, 1,000 a call).
Each simulated person then joins the biggest channel and two others at random, posts (with a
``client_msg_id``, as Slack clients do), reads history, lists channels and checks presence.
WebSocket delivery latency has its own tool: ``make bench-chat``.
"""

import logging
import os
import random
import threading
import uuid
from typing import Any

import httpx
from locust import HttpUser, between, events, task
from locust.env import Environment

PREFIX = "/chat"
INVITE_BATCH = 1000
DEFAULT_SIZES = "2,8,50,500,10000"

logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per seeding request
_seeded = threading.Lock()
CHANNELS: list[tuple[str, int]] = []
"""(channel id, seeded size), biggest first."""


def _sizes() -> list[int]:
    return sorted(
        (int(s) for s in os.environ.get("CHAT_LOCUST_CHANNEL_SIZES", DEFAULT_SIZES).split(",")),
        reverse=True,
    )


def _new_user(http: httpx.Client, name: str) -> dict[str, Any]:
    response = http.post(f"{PREFIX}/dev/users", json={"name": f"{name}-{uuid.uuid4().hex[:8]}"})
    response.raise_for_status()
    user: dict[str, Any] = response.json()
    return user


def seed_channels(host: str) -> None:
    """Channels of each size, once per locust process."""
    with _seeded:
        if CHANNELS:
            return
        with httpx.Client(base_url=host, timeout=120) as http:
            owner = _new_user(http, "seed-owner")
            auth = {"authorization": f"Bearer {owner['token']}"}
            biggest = max(_sizes())
            print(f"chat_locust: seeding channels of {_sizes()} members ...", flush=True)
            members: list[str] = []
            run = uuid.uuid4().hex[:8]
            for start in range(0, biggest - 1, INVITE_BATCH):
                count = min(INVITE_BATCH, biggest - 1 - start)
                response = http.post(
                    f"{PREFIX}/dev/users/batch",
                    json={"prefix": f"member-{run}-{start}", "count": count},
                )
                response.raise_for_status()
                members += [user["id"] for user in response.json()["users"]]
            for size in _sizes():
                name = f"load-{size}-{uuid.uuid4().hex[:6]}"
                created = http.post(
                    f"{PREFIX}/api/conversations.create", headers=auth, json={"name": name}
                ).json()
                channel = created["channel"]["id"]
                for start in range(0, size - 1, INVITE_BATCH):
                    batch = members[start : min(start + INVITE_BATCH, size - 1)]
                    answer = http.post(
                        f"{PREFIX}/api/conversations.invite",
                        headers=auth,
                        json={"channel": channel, "users": ",".join(batch)},
                    ).json()
                    if not answer["ok"]:
                        raise RuntimeError(f"seeding {name}: {answer}")
                CHANNELS.append((channel, size))


@events.test_start.add_listener  # type: ignore[untyped-decorator]
def _on_test_start(environment: Environment, **_: Any) -> None:
    if environment.host and any(
        issubclass(user_class, ChatUser) for user_class in environment.user_classes
    ):
        seed_channels(environment.host)


class ChatUser(HttpUser):
    host = "http://127.0.0.1:8080"
    wait_time = between(0.2, 1.0)

    def on_start(self) -> None:
        seed_channels(self.host or "")
        me = self.client.post(
            f"{PREFIX}/dev/users", json={"name": f"p-{uuid.uuid4().hex[:8]}"}, name="/dev/users"
        ).json()
        self.client.headers["authorization"] = f"Bearer {me['token']}"
        self.user_id: str = me["id"]
        others = CHANNELS[1:]
        picked = [CHANNELS[0], *random.sample(others, min(2, len(others)))]
        self.channels = [channel for channel, _ in picked]
        for channel in self.channels:
            self._call("conversations.join", {"channel": channel})

    def _call(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.client.post(
            f"{PREFIX}/api/{method}", json=body, name=f"/api/{method}", catch_response=True
        ) as response:
            answer: dict[str, Any] = response.json() if response.ok else {}
            if answer.get("ok"):
                response.success()
            else:
                response.failure(f"{response.status_code}: {response.text[:200]}")
        return answer

    @task(4)
    def post(self) -> None:
        self._call(
            "chat.postMessage",
            {
                "channel": random.choice(self.channels),
                "text": f"hello {random.randint(1, 10**6)}",
                "client_msg_id": str(uuid.uuid4()),
            },
        )

    @task(4)
    def history(self) -> None:
        self._call("conversations.history", {"channel": random.choice(self.channels), "limit": 20})

    @task(1)
    def list_channels(self) -> None:
        self._call("conversations.list", {"limit": 100})

    @task(1)
    def presence(self) -> None:
        self._call("users.getPresence", {"user": self.user_id})

    @task(1)
    def who_am_i(self) -> None:
        self._call("auth.test", {})
