"""Every service's OpenAPI document tells the truth about errors.

FastAPI documents a 422 with its own validation body on every operation that takes input, but
the stack answers bad input with a 400 in its one error model (:mod:`stackkit.errors`), and the
input gate (:mod:`stackkit.gate`) can answer 400 on any operation. Clients generated from the
document, and schemathesis checking it, must see what the services really send.
"""

from typing import Any

from fastapi import FastAPI

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Error",
    "description": "The stack's one error model.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "code", "message", "param", "request_id"],
            "properties": {
                "type": {"type": "string", "examples": ["invalid_request_error"]},
                "code": {"type": "string", "examples": ["parameter_invalid"]},
                "message": {"type": "string"},
                "param": {"type": ["string", "null"], "description": "the parameter at fault"},
                "request_id": {"type": ["string", "null"]},
            },
        }
    },
}
_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_JSON_ERROR = {"application/json": {"schema": _ERROR_REF}}
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def true_error_responses(document: dict[str, Any]) -> dict[str, Any]:
    """422s become 400s in the error model; every operation documents the 400 the gate can give
    and, unless it says otherwise, a ``default`` error response in the same shape (401, 404,
    409, 413, 5xx: the statuses each use case maps its domain errors to)."""
    for path_item in document.get("paths", {}).values():
        for method in _METHODS:
            operation = path_item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses.setdefault(
                "400", {"description": "Bad input, naming the parameter", "content": _JSON_ERROR}
            )
            responses.setdefault(
                "default", {"description": "Any other error", "content": _JSON_ERROR}
            )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas["Error"] = ERROR_SCHEMA
    return document


def document_errors(app: FastAPI) -> None:
    """Wraps ``app.openapi`` so the generated document (cached by FastAPI) is rewritten once."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = true_error_responses(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
