"""The native stack's run-time flags: every process reads the stack's own copy of the flag file,
and a flip in it reaches the running processes, with no restart."""

import httpx
import pytest

from devstack.stack import REPO_FLAG_FILE, NativeStack
from stackkit.flag_file import read_flag_file, set_flag, write_flag_file
from tests.flags.running import within_a_flip

pytestmark = pytest.mark.e2e


def _ready(url: str) -> int:
    return httpx.get(f"{url}/readyz", timeout=5).status_code


async def test_a_fault_flipped_in_the_stack_s_flag_file_reaches_a_running_service(
    native_stack: NativeStack,
) -> None:
    path = native_stack.flags_path
    assert path != REPO_FLAG_FILE, "tests flip a copy, never the checkout's file"
    dispatch = native_stack.url("dispatch")
    assert _ready(dispatch) == 200
    try:
        set_flag(path, "fault.redis", "down")

        async def not_ready() -> bool:
            return _ready(dispatch) == 503

        await within_a_flip(not_ready, "dispatch /readyz 503 with fault.redis=down")
    finally:
        write_flag_file(path, read_flag_file(REPO_FLAG_FILE))

    async def ready() -> bool:
        return _ready(dispatch) == 200

    await within_a_flip(ready, "dispatch /readyz 200 again with the flag file restored")


FLAG_READERS = ("catalog", "dispatch", "chat", "payments", "acquirer-a")
"""FastAPI processes of the stack: each serves ``GET /flags``."""


def _flag_status(native_stack: NativeStack, name: str) -> dict[str, object]:
    response = httpx.get(f"{native_stack.url(name)}/flags", timeout=5)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def _scrape(native_stack: NativeStack, name: str) -> str:
    return httpx.get(f"{native_stack.url(name)}/metrics", timeout=5).text


async def test_a_malformed_flag_file_keeps_the_last_good_flags_and_every_process_shows_why(
    native_stack: NativeStack,
) -> None:
    path = native_stack.flags_path
    try:
        set_flag(path, "fault.redis", "slow")

        async def slow_everywhere() -> bool:
            return all(
                _flag_status(native_stack, name)["values"]["fault.redis"] != "off"  # type: ignore[index]
                for name in FLAG_READERS
            )

        await within_a_flip(slow_everywhere, "every process reads fault.redis=slow")
        in_force = _flag_status(native_stack, "catalog")["values"]["fault.redis"]  # type: ignore[index]
        assert "latency_ms=200" in in_force, in_force
        path.write_text('{"flags": {"fault.redis": ')  # a half-written edit

        async def shown_everywhere() -> bool:
            return all(not _flag_status(native_stack, name)["valid"] for name in FLAG_READERS)

        await within_a_flip(shown_everywhere, "every process's /flags says the file is broken")
        for name in FLAG_READERS:
            status = _flag_status(native_stack, name)
            assert status["error"], f"{name} shows no error for a broken file"
            values = status["values"]
            assert isinstance(values, dict)
            assert values["fault.redis"] == in_force, f"{name} dropped the last good flags"
            assert "flags_file_valid 0.0" in _scrape(native_stack, name), name
        assert _ready(native_stack.url("dispatch")) == 200, "a broken file broke a service"
    finally:
        write_flag_file(path, read_flag_file(REPO_FLAG_FILE))

    async def valid_everywhere() -> bool:
        return all(
            _flag_status(native_stack, name)["valid"]
            and _flag_status(native_stack, name)["values"]["fault.redis"] == "off"  # type: ignore[index]
            for name in FLAG_READERS
        )

    await within_a_flip(valid_everywhere, "every process valid again with the defaults")
