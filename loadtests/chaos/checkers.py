"""The chaos monkey's observers: real clients through the edge, and reads of the stores, that
collect what :mod:`loadtests.chaos.invariants` judges. Each runs until cancelled and never
raises for a failure of the stack (that is what it observes); it records and carries on.
"""

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import orjson
import stripe
from websockets.asyncio.client import connect

from loadtests.chaos import invariants
from loadtests.chaos.invariants import Verdict

CLIENT_TIMEOUT_S = 10.0


@dataclass
class Sample:
    t: float
    """Seconds since the run started."""
    ok: bool
    latency_ms: float
    what: str


@dataclass
class Clock:
    started: float = field(default_factory=time.monotonic)

    def now(self) -> float:
        return time.monotonic() - self.started


async def every(period_s: float, step: Callable[[], Awaitable[None]]) -> None:
    """``step`` every ``period_s`` until cancelled; a failing step is the stack's failure, not
    the checker's: it is recorded by the step and the loop goes on."""
    while True:
        started = time.monotonic()
        with contextlib.suppress(Exception):
            await step()
        await asyncio.sleep(max(0.0, period_s - (time.monotonic() - started)))


# -- the edge: error ratio and latency, as a user sees them --------------------------------


@dataclass
class EdgeProber:
    """Reads through the edge at a steady rate: a catalog title and a nearby-drivers query."""

    edge_url: str
    clock: Clock
    per_s: float = 10.0
    samples: list[Sample] = field(default_factory=list)

    async def run(self) -> None:
        def path() -> str:
            if random.random() < 0.5:
                return f"/catalog/v1/titles/t{random.randrange(200)}"
            return "/dispatch/v1/drivers/nearby?lat=41.0082&lng=28.9784&radius_m=3000"

        async with httpx.AsyncClient(base_url=self.edge_url, timeout=CLIENT_TIMEOUT_S) as client:

            async def probe() -> None:
                chosen = path()
                started = time.monotonic()
                try:
                    ok = (await client.get(chosen)).status_code < 500
                except httpx.HTTPError:
                    ok = False
                elapsed_ms = (time.monotonic() - started) * 1000
                self.samples.append(Sample(self.clock.now(), ok, elapsed_ms, chosen.split("?")[0]))

            await every(1.0 / self.per_s, probe)


# -- chat: every message to every connected client, once, in order -----------------------


@dataclass
class ChatClient:
    token: str
    seqs: list[int] = field(default_factory=list)
    connections: int = 0


@dataclass
class ChatChecker:
    edge_url: str
    clients: int = 10
    posts_per_s: float = 2.0
    members: list[ChatClient] = field(default_factory=list)
    channel: str = ""
    owner: str = ""
    post_errors: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    """Set whenever a client receives a message: what the verdict waits on."""
    _posting: "asyncio.Task[None] | None" = None

    async def setup(self) -> None:
        async with httpx.AsyncClient(base_url=f"{self.edge_url}/chat", timeout=30) as api:
            prefix = f"chaos{uuid.uuid4().hex[:6]}"
            created = await api.post(
                "/dev/users/batch", json={"prefix": prefix, "count": self.clients + 1}
            )
            created.raise_for_status()
            users = created.json()["users"]
            self.owner = users[0]["token"]
            answer = await self._call(api, "conversations.create", {"name": f"c-{prefix}"})
            self.channel = answer["channel"]["id"]
            ids = ",".join(u["id"] for u in users[1:])
            await self._call(api, "conversations.invite", {"channel": self.channel, "users": ids})
            self.members = [ChatClient(u["token"]) for u in users[1:]]

    async def _call(self, api: httpx.AsyncClient, method: str, body: dict[str, Any]) -> Any:
        headers = {"authorization": f"Bearer {self.owner}"}
        answer = (await api.post(f"/api/{method}", headers=headers, json=body)).json()
        if not answer.get("ok"):
            raise RuntimeError(f"{method}: {answer}")
        return answer

    async def run(self) -> None:
        """Follow with every client and post, until cancelled; :meth:`stop_posting` ends the
        posts alone, so that the verdict's last message is the channel's last."""
        tasks = [asyncio.create_task(self._follow(m)) for m in self.members]
        self._posting = asyncio.create_task(self._post_forever())
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in [*tasks, self._posting]:
                task.cancel()
            await asyncio.gather(*tasks, self._posting, return_exceptions=True)

    async def stop_posting(self) -> None:
        if self._posting is not None:
            self._posting.cancel()
            await asyncio.gather(self._posting, return_exceptions=True)

    async def _post_forever(self) -> None:
        async with httpx.AsyncClient(base_url=f"{self.edge_url}/chat", timeout=10) as api:
            n = 0

            async def post() -> None:
                nonlocal n
                n += 1
                try:
                    await self._call(
                        api, "chat.postMessage", {"channel": self.channel, "text": f"m{n}"}
                    )
                except (httpx.HTTPError, RuntimeError, ValueError):
                    self.post_errors += 1

            await every(1.0 / self.posts_per_s, post)

    async def _follow(self, member: ChatClient) -> None:
        """Read the channel through the edge; when the socket dies, reconnect with ``since``
        (the last seq seen), as a Slack client does."""
        ws_url = self.edge_url.replace("http://", "ws://") + "/chat-gateway/ws"
        while True:
            # From the start the cursor is 0: a client that connects after the first posts
            # still has them replayed, so "every message" means every one in the channel.
            since = f"{self.channel}:{member.seqs[-1] if member.seqs else 0}"
            try:
                async with connect(
                    f"{ws_url}?since={since}",
                    additional_headers={"Authorization": f"Bearer {member.token}"},
                    open_timeout=CLIENT_TIMEOUT_S,
                    ping_interval=5,
                    ping_timeout=10,
                ) as ws:
                    member.connections += 1
                    async for raw in ws:
                        event = orjson.loads(raw)
                        if event.get("type") == "message" and event.get("channel") == self.channel:
                            member.seqs.append(int(event["seq"]))
                            self.arrived.set()
            except asyncio.CancelledError:
                raise
            except Exception:  # any way a socket can die: reconnect, as a client does
                await asyncio.sleep(0.5)

    async def verdict(self, grace_s: float) -> Verdict:
        """Post a last message (retrying until it is taken), wait up to ``grace_s`` for every
        client to have it, then judge every client's sequence."""
        verdict = Verdict(
            "chat", "every connected client gets every message once, in order", checked=0
        )
        await self.stop_posting()
        async with httpx.AsyncClient(base_url=f"{self.edge_url}/chat", timeout=10) as api:
            last = 0
            deadline = time.monotonic() + grace_s
            while not last and time.monotonic() < deadline:
                try:
                    body = {"channel": self.channel, "text": "the end"}
                    last = int((await self._call(api, "chat.postMessage", body))["message"]["seq"])
                except (httpx.HTTPError, RuntimeError, ValueError):
                    await asyncio.sleep(0.5)
        if not last:
            verdict.violations.append(f"no message could be posted within {grace_s:.0f}s")
            return verdict
        while not all(m.seqs and m.seqs[-1] >= last for m in self.members):
            self.arrived.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), remaining)
        received = {f"client {n}": m.seqs for n, m in enumerate(self.members)}
        verdict.checked = last * len(self.members)
        verdict.violations = invariants.chat_sequences(received, list(range(1, last + 1)))
        return verdict


# -- payments: none authorized twice, none lost --------------------------------------------


@dataclass
class PaymentsChecker:
    """A merchant taking card payments with the official stripe SDK (which retries with an
    idempotency key), and afterwards the acquirers asked what they authorized per intent."""

    edge_url: str
    database_url: str
    acquirer_urls: dict[str, str]
    per_s: float = 1.0
    statuses: dict[str, str] = field(default_factory=dict)
    errors: int = 0
    _client: stripe.StripeClient | None = None

    async def setup(self) -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            created = await http.post(
                f"{self.edge_url}/payments/dev/merchants", json={"name": "chaos"}
            )
            created.raise_for_status()
        self._client = stripe.StripeClient(
            created.json()["secret_key"],
            base_addresses={"api": f"{self.edge_url}/payments"},
            max_network_retries=3,
        )

    def _pay(self) -> None:
        assert self._client is not None
        intents = self._client.v1.payment_intents
        try:
            intent = intents.create(params={"amount": 1000, "currency": "usd"})
        except stripe.StripeError:
            self.errors += 1
            return
        self.statuses[intent.id] = intent.status
        try:
            confirmed = intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
            self.statuses[intent.id] = confirmed.status
        except stripe.StripeError:
            self.errors += 1

    async def run(self) -> None:
        await every(1.0 / self.per_s, lambda: asyncio.to_thread(self._pay))

    async def verdict(self) -> Verdict:
        verdict = Verdict(
            "payments", "no payment authorized twice, none lost", checked=len(self.statuses)
        )
        stored, answers = await ledgers(self.database_url, self.acquirer_urls, list(self.statuses))
        authorized = {
            intent: n
            for intent, statuses in answers.items()
            if (n := sum(status != "declined" for status in statuses))
        }
        verdict.violations = invariants.payments(authorized, self.statuses, stored)
        return verdict


async def ledgers(
    database_url: str, acquirer_urls: dict[str, str], ids: list[str]
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Each intent's status at payments, and what its acquirer says of each of its charge
    attempts (approved, declined, voided): the two ledgers a payment must agree with."""
    db = await asyncpg.connect(database_url, timeout=10)
    try:
        rows = await db.fetch("SELECT id, status FROM payment_intents WHERE id = ANY($1)", ids)
        attempts = await db.fetch(
            "SELECT id, intent_id, acquirer FROM charge_attempts WHERE intent_id = ANY($1)", ids
        )
    finally:
        await db.close()
    answers: dict[str, list[str]] = {}
    async with httpx.AsyncClient(timeout=10) as http:
        for attempt in attempts:
            base = acquirer_urls.get(attempt["acquirer"])
            if base is None:
                continue
            answer = await http.get(f"{base}/authorizations/{attempt['id']}")
            if answer.status_code == 200:
                answers.setdefault(attempt["intent_id"], []).append(answer.json()["status"])
    return {r["id"]: r["status"] for r in rows}, answers


# -- dispatch: no driver on two trips --------------------------------------------------------


ACTIVE_TRIPS = """
    SELECT driver_id, count(*) AS trips FROM trips
    WHERE status IN ('accepted', 'arrived', 'in_progress') AND driver_id IS NOT NULL
    GROUP BY driver_id
"""


@dataclass
class TripsChecker:
    database_url: str
    worst: dict[str, int] = field(default_factory=dict)
    samples: int = 0
    active_seen: int = 0

    async def run(self) -> None:
        async def sample() -> None:
            db = await asyncpg.connect(self.database_url, timeout=5)
            try:
                rows = await db.fetch(ACTIVE_TRIPS, timeout=5)
            finally:
                await db.close()
            self.samples += 1
            self.active_seen += sum(r["trips"] for r in rows)
            for r in rows:
                self.worst[r["driver_id"]] = max(self.worst.get(r["driver_id"], 0), r["trips"])

        await every(2.0, sample)

    def verdict(self) -> Verdict:
        return Verdict(
            "dispatch",
            "no driver holds two active trips",
            checked=self.samples,
            violations=invariants.active_trips(self.worst),
        )


# -- edge config: versions applied in order --------------------------------------------------


@dataclass
class ConfigChecker:
    """Writes a config change through the edge every few seconds and samples every PoP's
    applied version."""

    edge_url: str
    pop_urls: dict[str, str]
    admin_headers: dict[str, str]
    versions: dict[str, list[int]] = field(default_factory=dict)
    written: int = 0

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=5) as http:

            async def write() -> None:
                answer = await http.post(
                    f"{self.edge_url}/_edge/purge",
                    headers=self.admin_headers,
                    json={"prefixes": ["/chaos-probe/"]},
                )
                if answer.status_code == 200:
                    self.written += 1

            async def sample() -> None:
                for pop, url in self.pop_urls.items():
                    with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                        status = (await http.get(f"{url}/_edge/status")).json()
                        self.versions.setdefault(pop, []).append(int(status["config_version"]))

            await asyncio.gather(every(3.0, write), every(0.5, sample))

    def verdict(self) -> Verdict:
        return Verdict(
            "edge config",
            "no config version applied out of order",
            checked=sum(len(v) for v in self.versions.values()) if self.written else 0,
            violations=invariants.config_versions(self.versions),
        )
