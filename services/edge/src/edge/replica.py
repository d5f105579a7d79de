"""A PoP's local replica of the config plane, in LMDB as Quicksilver keeps it.

LMDB gives one writer, readers that never block, and a write transaction that lands whole or
not at all: a change set is written in one transaction with the version it brings the replica
to. Requests read a compiled :class:`EdgeConfig` built from the replica after each change and
swapped in by one assignment, so no request sees half a change. A restarted PoP resumes from its
replica's version; a PoP with an empty replica loads a snapshot first; either way it then
catches up from the log and follows Kafka ``edge.config``. Every change applied is recorded
with the path that brought it: ``push`` (a Kafka event, or the catch-up its gap set off) or
``poll`` (a catch-up from the log on a timer or at start-up).
"""

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

import lmdb
import orjson

from edge.domain.config import (
    PURGE,
    Arrival,
    ChangeSet,
    Route,
    arrival,
    compile_config,
    merged,
)
from stackkit.logs import get_logger

VERSION_KEY = b"meta:version"
ENTRY_PREFIX = b"entry:"
MAP_SIZE = 256 * 1024 * 1024
RECENT_APPLIED = 1000

log = get_logger(__name__)

ApplyPath = Literal["push", "poll"]
"""How a change reached this replica."""
Fetch = Callable[[int], Awaitable[list[ChangeSet]]]
Snapshot = Callable[[], Awaitable[tuple[int, dict[str, Any]]]]


class ConfigReplica:
    def __init__(
        self,
        path: Path,
        defaults: dict[str, Route],
        *,
        on_purge: Callable[[dict[str, Any]], object],
        on_applied: Callable[[ChangeSet, float, ApplyPath], None],
    ) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._env = lmdb.open(str(path), map_size=MAP_SIZE, max_dbs=0, subdir=True)
        self._defaults = defaults
        self._on_purge = on_purge
        self._on_applied = on_applied
        self._lock = asyncio.Lock()
        self.entries, version = self._read_all()
        self.config = compile_config(version, self.entries, defaults)
        self.recent: deque[tuple[int, float, float, ApplyPath]] = deque(maxlen=RECENT_APPLIED)
        """(version, written_at, applied_at, path) of the latest changes applied here."""
        self.cold_start = version == 0

    @property
    def version(self) -> int:
        return self.config.version

    def close(self) -> None:
        self._env.close()

    def _read_all(self) -> tuple[dict[str, Any], int]:
        with self._env.begin() as txn:
            raw_version = txn.get(VERSION_KEY)
            entries = {
                key[len(ENTRY_PREFIX) :].decode(): orjson.loads(value)
                for key, value in txn.cursor()
                if key.startswith(ENTRY_PREFIX)
            }
        return entries, int(raw_version) if raw_version else 0

    def _write(self, version: int, entries: dict[str, Any], *, replace_all: bool) -> None:
        with self._env.begin(write=True) as txn:
            if replace_all:
                for stored in [k for k, _ in txn.cursor() if k.startswith(ENTRY_PREFIX)]:
                    txn.delete(stored)
            for name, value in entries.items():
                if value is None:
                    txn.delete(ENTRY_PREFIX + name.encode())
                elif name != PURGE:
                    txn.put(ENTRY_PREFIX + name.encode(), orjson.dumps(value))
            txn.put(VERSION_KEY, str(version).encode())

    async def load_snapshot(self, snapshot: Snapshot) -> None:
        """For a replica that has nothing yet: the log's current state in one step."""
        async with self._lock:
            version, entries = await snapshot()
            if version <= self.version:
                return
            self._write(version, entries, replace_all=True)
            self.entries = entries
            self.config = compile_config(version, entries, self._defaults)
            log.info("config_snapshot_loaded", version=version, keys=len(entries))

    async def receive(self, change: ChangeSet, fetch: Fetch) -> None:
        """A change announced on Kafka: applied in order, or after catching up on a gap."""
        async with self._lock:
            match arrival(self.version, change.version):
                case Arrival.APPLY:
                    self._apply(change, "push")
                case Arrival.GAP:
                    await self._catch_up(fetch, "push")
                case Arrival.ALREADY_APPLIED:
                    pass

    async def catch_up(self, fetch: Fetch) -> int:
        """Every change the log has past this replica's version (a poll of the log)."""
        async with self._lock:
            return await self._catch_up(fetch, "poll")

    async def _catch_up(self, fetch: Fetch, path: ApplyPath) -> int:
        changes = await fetch(self.version)
        for change in changes:
            if arrival(self.version, change.version) is Arrival.APPLY:
                self._apply(change, path)
        return len(changes)

    def _apply(self, change: ChangeSet, path: ApplyPath) -> None:
        self._write(change.version, change.entries, replace_all=False)
        self.entries = merged(self.entries, change)
        self.config = compile_config(change.version, self.entries, self._defaults)
        if change.entries.get(PURGE):
            self._on_purge(change.entries[PURGE])
        applied_at = time.time()
        self.recent.append((change.version, change.written_at, applied_at, path))
        self._on_applied(change, applied_at, path)
