"""Waiting for dependencies at start-up, so services start in any order."""

from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, stop_after_delay, wait_exponential

from stackkit.logs import get_logger

T = TypeVar("T")
log = get_logger(__name__)


async def retry_until_available(
    connect: Callable[[], Awaitable[T]], *, what: str, timeout_s: float
) -> T:
    """Call ``connect`` until it succeeds, backing off up to 2 s, for at most ``timeout_s``."""
    attempt_number = 0
    async for attempt in AsyncRetrying(
        stop=stop_after_delay(timeout_s),
        wait=wait_exponential(multiplier=0.1, max=2.0),
        reraise=True,
    ):
        with attempt:
            attempt_number += 1
            if attempt_number > 1:
                log.info("waiting_for_dependency", dependency=what, attempt=attempt_number)
            return await connect()
    raise AssertionError("unreachable: tenacity reraises the last error")
