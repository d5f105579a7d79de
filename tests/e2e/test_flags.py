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
