"""The payments OpenAPI document says what the API accepts: every path parameter, the body of
every POST (parsed by the API itself, so FastAPI cannot see it) and the list queries."""

import re
from typing import Any

import pytest
from pydantic import BaseModel

from payments import params
from payments.app import create_app


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app().openapi()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_every_path_parameter_is_declared(document: dict[str, Any]) -> None:
    missing = [
        f"{method.upper()} {path}: {name}"
        for method, path, operation in _operations(document)
        for name in re.findall(r"{(\w+)}", path)
        if not any(
            p["in"] == "path" and p["name"] == name and p["required"]
            for p in operation.get("parameters", [])
        )
    ]
    assert missing == []


BODIES: dict[str, type[BaseModel]] = {
    "/v1/payment_intents": params.CreatePaymentIntent,
    "/v1/payment_intents/{intent_id}": params.UpdatePaymentIntent,
    "/v1/payment_intents/{intent_id}/confirm": params.ConfirmPaymentIntent,
    "/v1/payment_intents/{intent_id}/capture": params.CapturePaymentIntent,
    "/v1/payment_intents/{intent_id}/cancel": params.CancelPaymentIntent,
    "/v1/refunds": params.CreateRefund,
    "/v1/webhook_endpoints": params.CreateWebhookEndpoint,
}


@pytest.mark.parametrize("path", sorted(BODIES))
def test_every_post_documents_its_form_and_json_body(document: dict[str, Any], path: str) -> None:
    body = document["paths"][path]["post"]["requestBody"]
    model = BODIES[path]
    for media_type in ("application/x-www-form-urlencoded", "application/json"):
        schema = body["content"][media_type]["schema"]
        assert set(schema["properties"]) == set(model.model_fields)
        assert set(schema.get("required", [])) == {
            name for name, field in model.model_fields.items() if field.is_required()
        }
        assert "$ref" not in str(schema), "each fragment stands on its own"


@pytest.mark.parametrize(
    ("path", "filter_name"),
    [("/v1/payment_intents", None), ("/v1/refunds", "payment_intent"), ("/v1/events", "type")],
)
def test_list_queries_are_documented(
    document: dict[str, Any], path: str, filter_name: str | None
) -> None:
    names = {p["name"] for p in document["paths"][path]["get"]["parameters"] if p["in"] == "query"}
    assert {"limit", "starting_after", "ending_before"} <= names
    assert filter_name is None or filter_name in names
