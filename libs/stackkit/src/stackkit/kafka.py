"""Kafka adapters on aiokafka: topics, a producer of envelopes, and local-broker tuning.

Never uses the idempotent or transactional producer: the local Tansu broker rejects them, and
the stack's guarantees come from outboxes and consumer-side dedupe instead.
"""

import asyncio
import contextlib
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from stackkit.events import Event
from stackkit.faults import KafkaProduceFaultInjected, apply_fault
from stackkit.flags import ARMED_FAULTS
from stackkit.logs import get_logger
from stackkit.retrying import retry_until_available
from stackkit.tracing import producer_span

log = get_logger(__name__)

PRODUCE_SITE = "kafka.produce"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 6


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"


async def ensure_topics(bootstrap_servers: str, topics: list[TopicSpec]) -> None:
    """Create missing topics (and their dead-letter twins); existing ones are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name, spec.partitions, 1)
            for spec in topics
            for name in (spec.name, dead_letter_topic(spec.name))
            if name not in existing
        ]
        if wanted:
            # Another process may create them between our list and our create.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
            log.info("topics_created", topics=[t.name for t in wanted])
    finally:
        await admin.close()


class EventProducer:
    """Publishes envelopes keyed by their subject, waiting for the broker's acknowledgement.

    Every publish meets the ``kafka.produce`` fault flag first (one per call: a batch is one),
    and, when tracing, is a PRODUCER span whose context the records carry in their headers.
    """

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer

    @classmethod
    async def start(cls, bootstrap_servers: str, *, timeout_s: float) -> "EventProducer":
        async def connect() -> AIOKafkaProducer:
            producer = AIOKafkaProducer(
                bootstrap_servers=bootstrap_servers,
                acks="all",
                enable_idempotence=False,
                linger_ms=5,
                request_timeout_ms=10000,
            )
            try:
                await producer.start()
            except Exception:
                await producer.stop()
                raise
            return producer

        producer = await retry_until_available(connect, what="kafka", timeout_s=timeout_s)
        return cls(producer)

    async def publish(self, topic: str, event: Event) -> None:
        if (fault := ARMED_FAULTS.get(PRODUCE_SITE)) is not None:
            await apply_fault(PRODUCE_SITE, fault, KafkaProduceFaultInjected)
        with producer_span(topic, key=event.subject, message_id=event.id) as headers:
            await self._producer.send_and_wait(
                topic, event.encode(), key=event.subject.encode(), headers=headers
            )

    async def publish_many(self, topic: str, events: list[Event]) -> None:
        """Send a batch without a round trip each (the producer batches them), then await all."""
        if (fault := ARMED_FAULTS.get(PRODUCE_SITE)) is not None:
            await apply_fault(PRODUCE_SITE, fault, KafkaProduceFaultInjected)
        # One span for the batch; every record carries its context.
        key = events[0].subject if len(events) == 1 else None
        with producer_span(topic, key=key, count=len(events)) as headers:
            futures = [
                await self._producer.send(
                    topic, event.encode(), key=event.subject.encode(), headers=headers
                )
                for event in events
            ]
            await asyncio.gather(*futures)

    async def publish_raw(
        self, topic: str, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        if (fault := ARMED_FAULTS.get(PRODUCE_SITE)) is not None:
            await apply_fault(PRODUCE_SITE, fault, KafkaProduceFaultInjected)
        with producer_span(topic, key=key, headers=headers) as traced:
            await self._producer.send_and_wait(topic, value, key=key, headers=traced)

    async def check(self) -> None:
        """Readiness: the broker answers a metadata request."""
        await self._producer.client.fetch_all_metadata()

    async def stop(self) -> None:
        await self._producer.stop()
