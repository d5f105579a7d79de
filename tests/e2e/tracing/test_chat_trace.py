"""One chat message, one trace: posted with the official ``slack_sdk`` through the edge to a
channel whose other member is connected by a plain ``websockets`` client, also through the edge.
The PoP's server span heads it; the chat API's server span, the outbox relay of the message's
row, its Kafka publish and the fanout's consume and delivery follow; the gateway's batch span
continues the trace (pub/sub carries no headers: the batch carries the traceparent) and links
it, and the WebSocket write is under the batch. The post's log lines on the chat API and on the
fanout carry the trace's id."""

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from websockets.asyncio.client import ClientConnection, connect

from devstack.stack import NativeStack
from tests.e2e.tracing.shapes import described, log_lines, one, under
from tests.tracing.otlp_receiver import OtlpReceiver, ReceivedSpan

pytestmark = pytest.mark.e2e


async def new_user(edge: str, name: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{edge}/chat/dev/users", json={"name": f"{name}-{uuid.uuid4().hex[:6]}"}
        )
    response.raise_for_status()
    user: dict[str, Any] = response.json()
    return user


async def next_message(ws: ClientConnection, channel: str) -> dict[str, Any]:
    while True:
        event: dict[str, Any] = json.loads(await ws.recv())
        if event.get("type") == "message" and event.get("channel") == channel:
            return event


async def test_a_posted_message_is_one_trace_from_the_pop_to_the_socket_write(
    traced_stack: NativeStack, spans: OtlpReceiver
) -> None:
    edge = traced_stack.edge_url
    ada, bob = await new_user(edge, "ada"), await new_user(edge, "bob")
    poster, reader = (WebClient(token=u["token"], base_url=f"{edge}/chat/api/") for u in (ada, bob))
    channel = poster.conversations_create(name=f"trace-{uuid.uuid4().hex[:8]}")["channel"]["id"]
    reader.conversations_join(channel=channel)
    ws_url = f"{edge.replace('http://', 'ws://')}/chat-gateway/ws?token={bob['token']}"
    async with connect(ws_url) as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert hello["type"] == "hello", hello
        posted = await asyncio.to_thread(
            poster.chat_postMessage, channel=channel, text="one trace, please"
        )
        assert posted["ok"], posted.data
        message = await asyncio.wait_for(next_message(ws, channel), 15)
    assert message["text"] == "one trace, please"
    seq = message["seq"]

    batch = await spans.wait_for(
        lambda s: (
            s.name == "chat.gateway batch"
            and s.attributes.get("chat.channel") == channel
            and s.attributes.get("chat.seq") == seq
        ),
        what=f"the gateway batch of {channel}:{seq}",
    )
    trace_id = batch.trace_id
    arrivals: list[tuple[str, Callable[[ReceivedSpan], bool]]] = [
        ("the chat API's server span", lambda s: s.kind == "SERVER" and s.service == "chat"),
        ("the PoP's server span", lambda s: s.kind == "SERVER" and s.service.startswith("edge")),
        ("the socket write", lambda s: s.name == "chat.gateway write"),
        ("the fanout's consume", lambda s: s.kind == "CONSUMER" and s.service == "chat-fanout"),
    ]
    for what, arrived in arrivals:

        def in_trace(s: ReceivedSpan, arrived: Callable[[ReceivedSpan], bool] = arrived) -> bool:
            return s.trace_id == trace_id and arrived(s)

        await spans.wait_for(in_trace, what=what)
    trace = spans.trace(trace_id)

    api = one(trace, "the chat API's server span", kind="SERVER", service="chat")
    assert "chat.postMessage" in api.name or "/api/" in api.name, api.name
    relay = one(trace, "the relay of the message's row", name="outbox relay chat.messages")
    assert under(trace, relay, api), f"relayed in the post's trace:\n  {described(trace)}"
    publish = one(trace, "the publish", kind="PRODUCER", name="chat.messages publish")
    assert under(trace, publish, relay), f"published by the relay:\n  {described(trace)}"
    consume = one(trace, "the fanout's consume", kind="CONSUMER", service="chat-fanout")
    assert consume.parent_span_id == publish.span_id, described(trace)
    deliver = one(trace, "the fanout's delivery", name="chat.fanout deliver")
    assert under(trace, deliver, consume) and deliver.service == "chat-fanout"
    assert deliver.attributes["chat.fanout.mode"] == "per_gateway"
    assert deliver.attributes["chat.fanout.recipients"] >= 1
    assert batch.service.startswith("chat-gateway") and batch.kind == "CONSUMER"
    assert batch.parent_span_id == deliver.span_id, "the batch continues the message's trace"
    assert any(link_trace == trace_id for link_trace, _ in batch.links), batch.links
    write = one(trace, "the socket write", name="chat.gateway write")
    assert under(trace, write, batch) and write.service == batch.service

    logs = traced_stack.logs_dir()
    said = {line["event"] for line in log_lines(logs / "chat.log", trace_id)}
    assert "request" in said, said
    fanned = log_lines(logs / "chat-fanout.log", trace_id)
    assert any(
        line["event"] == "message_fanned_out" and line.get("seq") == seq for line in fanned
    ), fanned

    # Last, as the edge's own server span ends after the whole response and may still be on its
    # way in: the PoP's hop opens the trace.
    pop = await spans.wait_for(
        lambda s: s.trace_id == trace_id and s.kind == "SERVER" and s.service.startswith("edge"),
        what="the PoP's server span",
    )
    trace = spans.trace(trace_id)
    assert under(trace, api, pop), f"a PoP's server span heads the trace:\n  {described(trace)}"
