"""The traced stack itself: every process exports spans once it serves a request."""

import httpx
import pytest

from devstack.stack import NativeStack
from tests.tracing.otlp_receiver import OtlpReceiver

pytestmark = pytest.mark.e2e


async def test_a_request_through_the_edge_reaches_the_receiver_as_spans(
    traced_stack: NativeStack, spans: OtlpReceiver
) -> None:
    async with httpx.AsyncClient(base_url=traced_stack.edge_url, timeout=10) as client:
        response = await client.get("/catalog/titles", params={"limit": 1})
    assert response.status_code < 500
    found = await spans.wait_for(lambda s: s.service == "catalog", what="a catalog span")
    assert found.trace_id
