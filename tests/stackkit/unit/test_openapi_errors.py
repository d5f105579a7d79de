"""Every service's OpenAPI document says what the stack answers: 400s in the error model, no 422."""

from contextlib import AsyncExitStack
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from stackkit.service import ReadinessCheck, create_service_app
from stackkit.settings import ServiceSettings


class Widget(BaseModel):
    name: str


async def _nothing(app: FastAPI, stack: AsyncExitStack) -> dict[str, ReadinessCheck]:
    return {}


def _document() -> tuple[dict[str, Any], TestClient]:
    app = create_service_app(name="widgets", settings=ServiceSettings(), lifespan_parts=(_nothing,))

    @app.post("/widgets/{name}")
    async def create(name: str, widget: Widget) -> Widget:
        return widget

    client = TestClient(app)
    return client.get("/openapi.json").json(), client


def test_bad_input_is_documented_as_the_400_it_is() -> None:
    document, client = _document()
    responses = document["paths"]["/widgets/{name}"]["post"]["responses"]
    assert "422" not in responses
    error_ref = {"$ref": "#/components/schemas/Error"}
    assert responses["400"]["content"]["application/json"]["schema"] == error_ref
    assert responses["default"]["content"]["application/json"]["schema"] == error_ref
    assert "HTTPValidationError" not in document["components"]["schemas"]
    answer = client.post("/widgets/a", json={"name": 1})
    assert answer.status_code == 400 and set(answer.json()["error"]) == set(
        document["components"]["schemas"]["Error"]["properties"]["error"]["required"]
    )


def test_ops_routes_document_their_real_content() -> None:
    document, _ = _document()
    metrics = document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]
    assert "503" in document["paths"]["/readyz"]["get"]["responses"]
