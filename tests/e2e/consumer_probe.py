"""A consumer process for the e2e tests: records every event it handles, through the inbox.

``probe_received`` has no unique constraint, so a second handling of one event would show up
as a duplicate row; the test kills this process with SIGKILL mid-stream and restarts it.
"""

import argparse
import asyncio
from contextlib import AsyncExitStack

from stackkit.connections import open_event_producer, open_postgres
from stackkit.consumer import ConsumerConfig, EventConsumer
from stackkit.events import Event
from stackkit.inbox import PostgresInbox, PostgresTx
from stackkit.kafka import TopicSpec
from stackkit.schema import apply_schema

PROBE_DDL = "CREATE TABLE IF NOT EXISTS probe_received (consumer_group text, event_id text)"


async def main(args: argparse.Namespace) -> None:
    async def record(event: Event, tx: PostgresTx) -> None:
        await tx.execute(
            "INSERT INTO probe_received (consumer_group, event_id) VALUES ($1, $2)",
            args.group,
            event.id,
        )
        await asyncio.sleep(args.work_ms / 1000)  # stands in for real work, widening the window

    async with AsyncExitStack() as stack:
        pool, _ = await open_postgres(stack, args.dsn, timeout_s=30)
        await apply_schema(pool, "tests.probe_received", PROBE_DDL)
        producer, _ = await open_event_producer(
            stack, args.bootstrap, [TopicSpec(args.topic)], timeout_s=30
        )
        inbox = PostgresInbox(pool)
        await inbox.create_table()
        config = ConsumerConfig(
            bootstrap_servers=args.bootstrap, group_id=args.group, topics=(args.topic,)
        )
        await EventConsumer(config, record, inbox, dead_letters=producer).run()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for option in ("--bootstrap", "--dsn", "--group", "--topic"):
        parser.add_argument(option, required=True)
    parser.add_argument("--work-ms", type=float, default=5.0)
    asyncio.run(main(parser.parse_args()))
