"""An at-least-once consumer loop: handle, then commit; dedupe in an inbox; retry; dead-letter.

Offsets are committed (``offset + 1``) only after every message before them was handled or
dead-lettered, so a crash re-delivers and never skips. The inbox turns re-delivery into a no-op,
so each event takes effect once per consumer group. A message that still fails after
``max_attempts`` (or is not a valid envelope) goes to ``<topic>.dlq`` with the reason in its
headers, so one poison message never blocks its partition.

Within a fetched batch, messages with different keys may be handled concurrently (up to
``concurrency`` at a time; 1 by default) and messages with the same key one after another, in
offset order: producers key by the thing whose order matters (a profile, a channel, a trip).

A restarted consumer must not be an outage: how long a (re)join takes is set by the group's
session timeout on both brokers we run (measured: the local Tansu broker answers a JoinGroup
after about half the session timeout but never sooner than its 1 s tick: 3 s at 6 s, 1.0 s at
1, 1.5 and 2 s, SIGKILLed predecessor or not; a rejoin within 0.2 s of leaving took 3-4 s at 1.2-2 s
and 1 s at 1 s; static membership, ``group_instance_id``, made it 6 s there).
So the session is short, heartbeats frequent, and a stopping consumer leaves the group.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from opentelemetry.trace import Span, StatusCode
from pydantic import ValidationError
from tenacity import AsyncRetrying, stop_after_attempt, wait_exponential

from stackkit.events import Event
from stackkit.inbox import Inbox
from stackkit.kafka import EventProducer, dead_letter_topic
from stackkit.logs import get_logger
from stackkit.retrying import retry_until_available
from stackkit.service import ReadinessCheck
from stackkit.tracing import consumer_span

TxT = TypeVar("TxT")
Handler = Callable[[Event, TxT], Awaitable[None]]

log = get_logger(__name__)
FETCH_MAX_WAIT_MS = 20
SESSION_TIMEOUT_MS = 2000
"""A dead member is noticed, and a new one admitted, within about this long. Apache Kafka
refuses a session below its ``group.min.session.timeout.ms`` (6 s by default): compose lowers
that to 1 s."""
HEARTBEAT_INTERVAL_MS = 300
"""Several heartbeats per session, so one slow turn of a busy event loop does not evict."""


@dataclass(frozen=True)
class ConsumerConfig:
    bootstrap_servers: str
    group_id: str
    topics: tuple[str, ...]
    max_attempts: int = 5
    retry_max_wait_s: float = 2.0
    batch_size: int = 200
    startup_timeout_s: float = 60.0
    session_timeout_ms: int = SESSION_TIMEOUT_MS
    heartbeat_interval_ms: int = HEARTBEAT_INTERVAL_MS
    concurrency: int = 1
    """Keys handled at once. Keep 1 with a Postgres inbox whose handler also uses the pool:
    each claim holds a connection, and handlers waiting for a second one could take them all."""


class EventConsumer(Generic[TxT]):
    def __init__(
        self,
        config: ConsumerConfig,
        handler: Handler[TxT],
        inbox: Inbox[TxT],
        dead_letters: EventProducer,
    ) -> None:
        self.config = config
        self._handler = handler
        self._inbox = inbox
        self._dead_letters = dead_letters
        self._consumer: AIOKafkaConsumer | None = None
        self.handled = 0
        self.duplicates = 0
        self.dead_lettered = 0

    async def run(self) -> None:
        """Consume until cancelled; always leaves the group cleanly."""

        async def connect() -> AIOKafkaConsumer:
            consumer = AIOKafkaConsumer(
                *self.config.topics,
                bootstrap_servers=self.config.bootstrap_servers,
                group_id=self.config.group_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                # The broker answers a fetch as soon as it has a record, or after this long:
                # the worst added latency for a record arriving on an idle partition.
                fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
                session_timeout_ms=self.config.session_timeout_ms,
                heartbeat_interval_ms=self.config.heartbeat_interval_ms,
            )
            try:
                await consumer.start()
            except Exception:
                await consumer.stop()
                raise
            return consumer

        consumer = await retry_until_available(
            connect, what="kafka consumer", timeout_s=self.config.startup_timeout_s
        )
        self._consumer = consumer
        try:
            while True:
                batches = await consumer.getmany(
                    timeout_ms=1000, max_records=self.config.batch_size
                )
                await self._process_by_key(batches)
                for partition, records in batches.items():
                    await self._commit(consumer, partition, records[-1].offset + 1)
        finally:
            self._consumer = None
            await consumer.stop()

    @property
    def running(self) -> bool:
        return self._consumer is not None

    async def _commit(
        self, consumer: AIOKafkaConsumer, partition: TopicPartition, offset: int
    ) -> None:
        try:
            await consumer.commit({partition: offset})
        except (CommitFailedError, KafkaError) as exc:
            # The partition moved during a rebalance: its new owner re-reads from the last
            # commit and the inbox skips what we already handled.
            log.warning("commit_failed", partition=str(partition), error=repr(exc))

    async def _process_by_key(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        if self.config.concurrency == 1:  # no tasks: every partition strictly in offset order
            for records in batches.values():
                for record in records:
                    await self._process(record)
            return
        same_key: dict[tuple[TopicPartition, bytes | None], list[ConsumerRecord]] = {}
        for partition, records in batches.items():
            for record in records:
                same_key.setdefault((partition, record.key), []).append(record)
        slots = asyncio.Semaphore(self.config.concurrency)

        async def in_order(records: list[ConsumerRecord]) -> None:
            async with slots:
                for record in records:
                    await self._process(record)

        await asyncio.gather(*(in_order(records) for records in same_key.values()))

    async def _process(self, record: ConsumerRecord) -> None:
        # The span continues the producer's trace (the record's headers): every attempt, the
        # handler's own calls and a dead-lettering are in it.
        with consumer_span(
            record.topic,
            record.headers,
            group=self.config.group_id,
            partition=record.partition,
            offset=record.offset,
        ) as span:
            await self._process_in_span(record, span)

    async def _process_in_span(self, record: ConsumerRecord, span: Span) -> None:
        try:
            event = Event.decode(record.value)
        except (ValidationError, ValueError, TypeError) as exc:
            await self._dead_letter(record, f"invalid envelope: {exc}")
            return
        span.set_attribute("messaging.message.id", event.id)
        span.set_attribute("cloudevents.event_type", event.type)
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.config.max_attempts),
                wait=wait_exponential(multiplier=0.05, max=self.config.retry_max_wait_s),
                reraise=True,
            ):
                with attempt:
                    await self._handle_once(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("handler_failed", event_id=event.id, event_type=event.type)
            span.record_exception(exc)
            span.set_status(StatusCode.ERROR, "dead-lettered")
            await self._dead_letter(record, f"handler failed: {exc!r}")

    async def _handle_once(self, event: Event) -> None:
        async with self._inbox.claim(self.config.group_id, event.id) as tx:
            if tx is None:
                self.duplicates += 1
                return
            await self._handler(event, tx)
        self.handled += 1

    async def _dead_letter(self, record: ConsumerRecord, reason: str) -> None:
        self.dead_lettered += 1
        headers = [
            ("dlq.reason", reason[:1000].encode()),
            ("dlq.group", self.config.group_id.encode()),
            ("dlq.source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
        ]
        await self._dead_letters.publish_raw(
            dead_letter_topic(record.topic), record.value, record.key, headers
        )
        log.error("dead_lettered", topic=record.topic, offset=record.offset, reason=reason)


def run_in_background(stack: AsyncExitStack, consumer: "EventConsumer[Any]") -> ReadinessCheck:
    """Run ``consumer`` for the lifespan of an app; its check fails until it has joined."""
    task = asyncio.create_task(consumer.run(), name=f"consumer:{consumer.config.group_id}")

    async def cancel() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    stack.push_async_callback(cancel)

    async def check() -> None:
        if task.done():
            error = task.exception() if not task.cancelled() else None
            raise RuntimeError(f"consumer stopped: {error!r}")
        if not consumer.running:
            raise RuntimeError("consumer not connected yet")

    return check


class ConsumerSettings(Protocol):
    """What a consumer reads from its service's settings (KafkaSettings and ServiceSettings)."""

    @property
    def kafka_bootstrap_servers(self) -> str: ...

    @property
    def startup_timeout_s(self) -> float: ...


def consume(
    stack: AsyncExitStack,
    *,
    settings: ConsumerSettings,
    group_id: str,
    topics: tuple[str, ...],
    handler: Handler[TxT],
    inbox: Inbox[TxT],
    dead_letters: EventProducer,
    concurrency: int = 1,
) -> ReadinessCheck:
    """The one way a service consumes: a consumer on the app's lifespan, and its readiness."""
    config = ConsumerConfig(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group_id,
        topics=topics,
        startup_timeout_s=settings.startup_timeout_s,
        concurrency=concurrency,
    )
    return run_in_background(stack, EventConsumer(config, handler, inbox, dead_letters))
