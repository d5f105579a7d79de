"""OpenAPI for the routes that parse their own input: the API reads bodies and query strings
itself (Stripe's bracketed forms, and JSON), so FastAPI cannot see them; these fragments, built
from the same pydantic models that validate the input, make the document say what is accepted."""

from typing import Any

from pydantic import BaseModel


def _inline(schema: Any, defs: dict[str, Any]) -> Any:
    """``schema`` with every ``$ref`` to ``$defs`` replaced by its target (the request models
    are small and not recursive), so an operation's fragment stands on its own; optional
    fields are documented without their null."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        options = [part for part in schema.get("anyOf", []) if part != {"type": "null"}]
        if len(options) == 1 and "anyOf" in schema:
            # ``X | None`` means "may be left out": a form has no null, so none is documented.
            rest = {key: value for key, value in schema.items() if key not in ("anyOf", "default")}
            return _inline({**options[0], **rest}, defs)
        return {key: _inline(value, defs) for key, value in schema.items() if key != "$defs"}
    if isinstance(schema, list):
        return [_inline(item, defs) for item in schema]
    return schema


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    inlined: dict[str, Any] = _inline(schema, schema.get("$defs", {}))
    return inlined


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting a body validated by ``model``: a form as the stripe SDK
    sends it (nested objects in brackets, ``metadata[key]=value``) or the same as JSON."""
    schema = _schema(model)
    objects = {
        name: {"style": "deepObject", "explode": True}
        for name, field in schema.get("properties", {}).items()
        if any(part.get("type") == "object" for part in [field, *field.get("anyOf", [])])
    }
    return {
        "requestBody": {
            "required": bool(schema.get("required")),
            "content": {
                "application/x-www-form-urlencoded": {"schema": schema, "encoding": objects},
                "application/json": {"schema": schema},
            },
        }
    }


def query_parameters(model: type[BaseModel], names: tuple[str, ...]) -> dict[str, Any]:
    """``openapi_extra`` documenting the query parameters ``names`` validated by ``model``."""
    properties = _schema(model)["properties"]
    return {
        "parameters": [
            {"name": name, "in": "query", "required": False, "schema": properties[name]}
            for name in names
        ]
    }
