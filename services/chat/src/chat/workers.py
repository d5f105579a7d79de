"""The fanout worker: turns one channel message on Kafka into deliveries per gateway."""

from contextlib import AsyncExitStack

from fastapi import FastAPI

from chat.events import MESSAGES, TOPICS
from chat.settings import ChatSettings
from stackkit.connections import open_backends
from stackkit.consumer import consume
from stackkit.events import Event
from stackkit.inbox import PostgresInbox, PostgresTx
from stackkit.logs import get_logger
from stackkit.service import ReadinessCheck, create_service_app

FANOUT_GROUP = "chat-fanout"

log = get_logger(__name__)


async def fan_out(event: Event, tx: PostgresTx) -> None:
    log.info("message_received", event_id=event.id, channel=event.subject)


def create_fanout_app(settings: ChatSettings | None = None) -> FastAPI:
    settings = settings or ChatSettings()

    async def open_resources(app: FastAPI, stack: AsyncExitStack) -> dict[str, ReadinessCheck]:
        checks = await open_backends(app, stack, settings, topics=TOPICS)
        inbox = PostgresInbox(app.state.db)
        await inbox.create_table()
        checks["consumer"] = consume(
            stack,
            settings=settings,
            startup_timeout_s=settings.startup_timeout_s,
            group_id=FANOUT_GROUP,
            topics=(MESSAGES.name,),
            handler=fan_out,
            inbox=inbox,
            dead_letters=app.state.events,
        )
        return checks

    return create_service_app(
        name="chat-fanout",
        settings=settings,
        open_resources=open_resources,
        description="Slack: the channel fanout worker.",
    )
