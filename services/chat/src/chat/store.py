"""Users, channels, memberships and messages in Postgres.

A message's ``seq`` comes from bumping ``channels.last_seq`` in the transaction that inserts
it: the row lock orders a channel's writers, a rollback gives the number back, so a channel's
stored messages are 1, 2, 3... with no gaps. The event for the fanout is staged in the outbox in
the same transaction.
"""

import hashlib
import secrets
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any

import asyncpg

from chat.domain.channels import (
    ChannelAccess,
    join_adds_member,
    require_existing,
    require_known_users,
    require_member,
    require_visible,
)
from chat.domain.slack import format_ts, new_id
from chat.events import EVENTS, MESSAGES, MemberJoined, MemberLeft, MessagePosted
from stackkit.errors import Conflict
from stackkit.outbox import create_outbox, stage
from stackkit.schema import apply_schema

Pool = asyncpg.Pool
TOKEN_CACHE_SIZE = 100_000


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class User:
    id: str
    name: str


@dataclass(frozen=True)
class Message:
    channel: str
    seq: int
    ts_us: int
    user: str
    text: str
    client_msg_id: str | None

    def as_slack(self) -> dict[str, Any]:
        found: dict[str, Any] = {"type": "message", "user": self.user, "text": self.text,
                                 "ts": format_ts(self.ts_us), "seq": self.seq}  # fmt: skip
        if self.client_msg_id:
            found["client_msg_id"] = self.client_msg_id
        return found

    def as_event(self) -> MessagePosted:
        return MessagePosted(channel=self.channel, user=self.user, text=self.text,
                             ts=format_ts(self.ts_us), seq=self.seq,
                             client_msg_id=self.client_msg_id or None)  # fmt: skip


def _message(row: asyncpg.Record) -> Message:
    return Message(row["channel_id"], row["seq"], row["ts_us"], row["user_id"], row["text"],
                   row["client_msg_id"])  # fmt: skip


class ChatStore:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self._users_by_token: dict[str, User] = {}

    async def create_schema(self) -> None:
        ddl = resources.files("chat").joinpath("schema.sql").read_text()
        await apply_schema(self.pool, "chat.schema", ddl)
        await create_outbox(self.pool)

    # -- users -------------------------------------------------------------------------------

    async def create_user(self, name: str) -> tuple[User, str]:
        return (await self.create_users([name]))[0]

    async def create_users(self, names: list[str]) -> list[tuple[User, str]]:
        """Users and their tokens, all or none (one name taken: ``Conflict``)."""
        created = [(User(new_id("U"), name), "xoxp-" + secrets.token_urlsafe(24)) for name in names]
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.executemany(
                    "INSERT INTO users (id, name, token_hash) VALUES ($1, $2, $3)",
                    [(user.id, user.name, token_hash(token)) for user, token in created],
                )
        except asyncpg.UniqueViolationError as error:
            raise Conflict(f"a user named {error.detail or names} exists", param="name") from error
        return created

    async def user_by_token(self, token: str) -> User | None:
        """Cached in the process: a token never changes owner and users are never deleted."""
        if token in self._users_by_token:
            return self._users_by_token[token]
        row = await self.pool.fetchrow(
            "SELECT id, name FROM users WHERE token_hash = $1", token_hash(token)
        )
        if row is None:
            return None
        if len(self._users_by_token) >= TOKEN_CACHE_SIZE:
            self._users_by_token.clear()
        user = self._users_by_token[token] = User(row["id"], row["name"])
        return user

    async def user(self, user_id: str) -> User | None:
        row = await self.pool.fetchrow("SELECT id, name FROM users WHERE id = $1", user_id)
        return User(row["id"], row["name"]) if row else None

    # -- channels ----------------------------------------------------------------------------

    async def create_channel(self, creator: str, name: str, is_private: bool) -> dict[str, Any]:
        channel_id = new_id("C")
        async with self.pool.acquire() as conn, conn.transaction():
            try:
                await conn.execute(
                    "INSERT INTO channels (id, name, is_private, creator) VALUES ($1, $2, $3, $4)",
                    channel_id, name, is_private, creator,
                )  # fmt: skip
            except asyncpg.UniqueViolationError as error:
                raise Conflict(f"a channel named {name} exists", code="name_taken",
                               param="name") from error  # fmt: skip
            await self._add_member(conn, channel_id, creator)
        return await self.channel(channel_id, viewer=creator)

    async def channel(self, channel_id: str, viewer: str) -> dict[str, Any]:
        row = require_existing(await self.pool.fetchrow(
            "SELECT c.*, EXISTS (SELECT 1 FROM members m WHERE m.channel_id = c.id "
            "AND m.user_id = $2) AS is_member FROM channels c WHERE c.id = $1",
            channel_id, viewer,
        ))  # fmt: skip
        require_visible(_access(row))
        return _channel(row)

    async def list_channels(self, viewer: str, after: str, limit: int) -> list[dict[str, Any]]:
        # ChannelAccess.visible, in SQL: the page is of the channels the viewer may see.
        rows = await self.pool.fetch(
            "SELECT c.*, m.user_id IS NOT NULL AS is_member FROM channels c "
            "LEFT JOIN members m ON m.channel_id = c.id AND m.user_id = $1 "
            "WHERE c.id > $2 AND (NOT c.is_private OR m.user_id IS NOT NULL) "
            "ORDER BY c.id LIMIT $3",
            viewer, after, limit,
        )  # fmt: skip
        return [_channel(row) for row in rows]

    async def join(self, channel_id: str, user_id: str) -> bool:
        """True if the user was not a member before."""
        async with self.pool.acquire() as conn, conn.transaction():
            locked = await conn.fetchval(
                "SELECT 1 FROM channels WHERE id = $1 FOR UPDATE", channel_id
            )
            # Asked once the row is locked, so it sees whoever joined meanwhile.
            access = await self._access(conn, channel_id, user_id) if locked else None
            if not join_adds_member(access):
                return False
            return await self._add_member(conn, channel_id, user_id)

    async def invite(self, channel_id: str, inviter: str, users: list[str]) -> list[str]:
        """The users added; raises if the inviter is not in the channel or a user is unknown."""
        async with self.pool.acquire() as conn, conn.transaction():
            require_member(await self._access(conn, channel_id, inviter))
            known = {
                r["id"] for r in await conn.fetch("SELECT id FROM users WHERE id = ANY($1)", users)
            }
            require_known_users(users, known)
            return [u for u in dict.fromkeys(users) if await self._add_member(conn, channel_id, u)]

    async def leave(self, channel_id: str, user_id: str) -> bool:
        """True if the user was a member."""
        async with self.pool.acquire() as conn, conn.transaction():
            last_seq = await conn.fetchval(
                "SELECT last_seq FROM channels WHERE id = $1 FOR UPDATE", channel_id
            )
            require_existing(last_seq)
            removed = await conn.fetchval(
                "DELETE FROM members WHERE channel_id = $1 AND user_id = $2 RETURNING 1",
                channel_id, user_id,
            )  # fmt: skip
            if not removed:
                return False
            await conn.execute(
                "UPDATE channels SET member_count = member_count - 1 WHERE id = $1", channel_id
            )
            left = MemberLeft(channel=channel_id, user=user_id, last_seq=last_seq)
            await stage(conn, MESSAGES.name, EVENTS.event(left))
            return True

    async def members(self, channel_id: str, viewer: str, after: str, limit: int) -> list[str]:
        async with self.pool.acquire() as conn:
            require_member(await self._access(conn, channel_id, viewer))
            rows = await conn.fetch(
                "SELECT user_id FROM members WHERE channel_id = $1 AND user_id > $2 "
                "ORDER BY user_id LIMIT $3",
                channel_id, after, limit,
            )  # fmt: skip
        return [row["user_id"] for row in rows]

    async def all_members(self, channel_id: str) -> set[str]:
        rows = await self.pool.fetch(
            "SELECT user_id FROM members WHERE channel_id = $1", channel_id
        )
        return {row["user_id"] for row in rows}

    async def memberships(self, user_id: str) -> dict[str, int]:
        """The user's channels and the ``seq`` of each one's last message."""
        rows = await self.pool.fetch(
            "SELECT c.id, c.last_seq FROM members m "
            "JOIN channels c ON c.id = m.channel_id WHERE m.user_id = $1",
            user_id,
        )
        return {row["id"]: row["last_seq"] for row in rows}

    async def peers_in_small_channels(
        self, users: list[str], max_members: int
    ) -> dict[str, set[str]]:
        """For presence: ``{channel: changed users in it}`` over channels of at most
        ``max_members`` (bigger channels get presence only by explicit subscription)."""
        rows = await self.pool.fetch(
            "SELECT m.channel_id, m.user_id FROM members m JOIN channels c ON c.id = m.channel_id "
            "WHERE m.user_id = ANY($1) AND c.member_count <= $2",
            users, max_members,
        )  # fmt: skip
        found: dict[str, set[str]] = {}
        for row in rows:
            found.setdefault(row["channel_id"], set()).add(row["user_id"])
        return found

    # -- messages ----------------------------------------------------------------------------

    async def post(
        self, channel_id: str, user_id: str, text: str, client_msg_id: str | None
    ) -> tuple[Message, bool]:
        """Store a message (the same ``client_msg_id`` twice stores it once); (message, new?)."""
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                if client_msg_id and (found := await _by_client_id(conn, channel_id, user_id,
                                                                    client_msg_id)):  # fmt: skip
                    return found, False
                now_us = time.time_ns() // 1000
                row = require_existing(await conn.fetchrow(
                    "UPDATE channels SET last_seq = last_seq + 1, "
                    "last_ts_us = GREATEST(last_ts_us + 1, $2) WHERE id = $1 "
                    "RETURNING last_seq, last_ts_us, is_private, EXISTS "
                    "(SELECT 1 FROM members WHERE channel_id = $1 AND user_id = $3) AS is_member",
                    channel_id, now_us, user_id,
                ))  # fmt: skip
                require_member(_access(row))  # refused: the rollback gives the seq back
                message = Message(channel_id, row["last_seq"], row["last_ts_us"], user_id, text,
                                  client_msg_id)  # fmt: skip
                await conn.execute(
                    "INSERT INTO messages (channel_id, seq, ts_us, user_id, text, client_msg_id) "
                    "VALUES ($1, $2, $3, $4, $5, $6)",
                    channel_id, message.seq, message.ts_us, user_id, text, client_msg_id,
                )  # fmt: skip
                await stage(conn, MESSAGES.name, EVENTS.event(message.as_event()))
                return message, True
        except asyncpg.UniqueViolationError:
            # the same client_msg_id committed first in a concurrent transaction
            async with self.pool.acquire() as conn:
                found = await _by_client_id(conn, channel_id, user_id, client_msg_id or "")
            if found is None:
                raise
            return found, False

    async def history(
        self, channel_id: str, viewer: str, *, oldest_us: int, latest_us: int | None,
        before_seq: int | None, limit: int, inclusive: bool,
    ) -> tuple[list[Message], bool]:  # fmt: skip
        """Newest first, as Slack answers; (messages, has_more)."""
        async with self.pool.acquire() as conn:
            require_member(await self._access(conn, channel_id, viewer))
            op_low, op_high = (">=", "<=") if inclusive else (">", "<")
            rows = await conn.fetch(
                f"SELECT * FROM messages WHERE channel_id = $1 AND ts_us {op_low} $2 "
                f"AND ($3::bigint IS NULL OR ts_us {op_high} $3) "
                "AND ($4::bigint IS NULL OR seq < $4) ORDER BY seq DESC LIMIT $5",
                channel_id, oldest_us, latest_us, before_seq, limit + 1,
            )  # fmt: skip
        messages = [_message(row) for row in rows]
        return messages[:limit], len(messages) > limit

    async def messages_after(self, channel_id: str, after_seq: int, limit: int) -> list[Message]:
        """Oldest first: what a reconnecting client missed (the caller checked membership)."""
        rows = await self.pool.fetch(
            "SELECT * FROM messages WHERE channel_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            channel_id, after_seq, limit,
        )  # fmt: skip
        return [_message(row) for row in rows]

    # -- helpers -----------------------------------------------------------------------------

    async def _add_member(self, conn: Any, channel_id: str, user_id: str) -> bool:
        added = await conn.fetchval(
            "INSERT INTO members (channel_id, user_id) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING RETURNING 1",
            channel_id, user_id,
        )  # fmt: skip
        if not added:
            return False
        last_seq = await conn.fetchval(
            "UPDATE channels SET member_count = member_count + 1 WHERE id = $1 RETURNING last_seq",
            channel_id,
        )
        # Membership changes travel with the channel's messages (keyed by channel), so the
        # fanout sees them in order: nobody gets a message posted after they left.
        joined = MemberJoined(channel=channel_id, user=user_id, last_seq=last_seq)
        await stage(conn, MESSAGES.name, EVENTS.event(joined))
        return True

    async def _access(self, conn: Any, channel_id: str, user_id: str) -> ChannelAccess | None:
        """How the user stands to the channel; None if there is no such channel."""
        row = await conn.fetchrow(
            "SELECT c.is_private, m.user_id IS NOT NULL AS is_member FROM channels c "
            "LEFT JOIN members m ON m.channel_id = c.id AND m.user_id = $2 WHERE c.id = $1",
            channel_id, user_id,
        )  # fmt: skip
        return None if row is None else _access(row)


async def _by_client_id(
    conn: Any, channel_id: str, user_id: str, client_msg_id: str
) -> Message | None:
    row = await conn.fetchrow(
        "SELECT * FROM messages WHERE channel_id = $1 AND user_id = $2 AND client_msg_id = $3",
        channel_id, user_id, client_msg_id,
    )  # fmt: skip
    return _message(row) if row else None


def _access(row: asyncpg.Record) -> ChannelAccess:
    return ChannelAccess(row["is_private"], row["is_member"])


def _channel(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"], "name": row["name"], "is_channel": not row["is_private"],
        "is_group": False, "is_im": False, "is_private": row["is_private"],
        "is_archived": False, "created": int(row["created_at"].timestamp()),
        "creator": row["creator"], "is_member": row["is_member"],
        "num_members": row["member_count"],
    }  # fmt: skip
