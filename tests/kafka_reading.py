"""Reading a topic from the beginning in tests, until enough matching records arrived."""

import uuid
from collections.abc import Callable
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from tests.waiting import eventually

T = TypeVar("T")


async def read_topic(
    bootstrap_servers: str,
    topic: str,
    pick: Callable[[ConsumerRecord[bytes, bytes]], T | None],
    *,
    count: int,
    timeout_s: float = 30.0,
) -> list[T]:
    """What ``pick`` returns for the records it accepts (not ``None``), once ``count`` are in."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        group_id=f"test-reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    picked: list[T] = []
    try:

        async def enough() -> bool:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                picked.extend(v for r in records if (v := pick(r)) is not None)
            return len(picked) >= count

        await eventually(enough, timeout_s=timeout_s, what=f"{count} records on {topic}")
    finally:
        await consumer.stop()
    return picked
