"""Running the process's flags from a copy of the stack's flag file, and timing a flip."""

import os
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from stackkit import flags
from stackkit.flag_file import read_flag_file, set_flag, write_flag_file, write_flag_text
from stackkit.flags import start_flags, status, stop_flags, wait_for_flags
from tests.waiting import eventually

REPO_FLAG_FILE = Path(__file__).parents[2] / "infra" / "flags" / "flags.flagd.json"
FLIP_LIMIT_S = 1.5
"""A flip in the file changes behaviour within a second (the file is polled every 500 ms);
half a second more for a loaded machine."""


@dataclass
class FlagFile:
    path: Path

    def set(self, key: str, variant: str) -> None:
        set_flag(self.path, key, variant)

    def write_text(self, text: str) -> None:
        write_flag_text(self.path, text)

    def restore(self) -> None:
        write_flag_file(self.path, read_flag_file(REPO_FLAG_FILE))


def use_flag_file(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """The process's flags come from ``path`` (and no flagd server) when they next start."""
    monkeypatch.setenv("FLAGD_RESOLVER", "file")
    monkeypatch.setenv("FLAGD_OFFLINE_FLAG_SOURCE_PATH", str(path))
    for name in ("FLAGD_HOST", "FLAGD_PORT", "FLAGD_DEADLINE_MS", "FLAGD_OFFLINE_POLL_MS"):
        monkeypatch.delenv(name, raising=False)


@asynccontextmanager
async def running_flags(
    directory: Path, monkeypatch: pytest.MonkeyPatch, *, production: bool = False
) -> AsyncIterator[FlagFile]:
    """The flags of this process, from a copy of infra/flags/flags.flagd.json in ``directory``."""
    path = directory / "flags.flagd.json"
    shutil.copyfile(REPO_FLAG_FILE, path)
    use_flag_file(monkeypatch, path)
    start_flags(production=production)
    try:
        assert await wait_for_flags()
        # Another test's flags still running would mean this file is not the one read.
        assert status().source == f"file {path}", status().source
        assert status().valid, status().error
        await eventually(lambda: _watching(path), timeout_s=5, what="the watcher to note the file")
        yield FlagFile(path)
    finally:
        stop_flags(production=production)


async def _watching(path: Path) -> bool:
    """Whether the provider's file watcher has recorded the file's modification time.

    openfeature-provider-flagd 0.6.1 reads the file at start-up, announces it (our flags are
    ready), and only then records the file's mtime: a write in between is taken as already
    read and never loaded. Tests write right after start-up, so they wait for the record
    (the watcher's own attribute: nothing public says it)."""
    provider = flags._RUNTIME._provider
    connector = getattr(getattr(provider, "resolver", None), "connector", None)
    recorded = getattr(connector, "last_modified", None)
    return recorded is not None and recorded >= os.stat(path).st_mtime


async def within_a_flip(condition: Callable[[], Awaitable[bool]], what: str) -> float:
    """Wait for ``condition`` (written just after a flip) and assert it came in time."""
    started = time.monotonic()
    await eventually(condition, timeout_s=10, what=what)
    elapsed = time.monotonic() - started
    assert elapsed < FLIP_LIMIT_S, f"{what} took {elapsed:.2f}s"
    return elapsed
