"""The error model on the wire: the one table from domain errors to HTTP statuses, the body
``{"error": {"type", "code", "message", "param", "request_id"}}``, and the FastAPI handlers
:func:`stackkit.service.create_service_app` installs.

Bad input is always a 4xx, never a 500. Unexpected exceptions become a 500 in the same shape
in :mod:`stackkit.middleware`, where the request id is still known. Hot paths outside FastAPI
(the edge's data plane, the anycast entry, uvicorn's protocol) render through
:func:`error_body` and :func:`status_and_body` too, so every process answers alike.
"""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from stackkit.errors import (
    Conflict,
    Contended,
    DomainError,
    Invalid,
    NotFound,
    Unauthorized,
    Unavailable,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from stackkit.request_context import current_request_id

STATUS_BY_ERROR: dict[type[DomainError], int] = {
    Invalid: 400,
    Unauthorized: 401,
    NotFound: 404,
    Conflict: 409,
    UpstreamUnreachable: 502,
    Unavailable: 503,
    Contended: 503,
    UpstreamTimeout: 504,
}
"""A subclass takes its nearest listed ancestor's status; an unlisted error is a 400."""

_TYPE_BY_STATUS = {
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    429: "rate_limit_error",
}


def error_body(
    *, error_type: str, code: str, message: str, param: str | None = None
) -> dict[str, Any]:
    """The stack's error body, carrying the id of the request being served (None outside)."""
    return {
        "error": {
            "type": error_type,
            "code": code,
            "message": message,
            "param": param,
            "request_id": current_request_id(),
        }
    }


def status_for(error: DomainError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


def status_and_body(error: DomainError) -> tuple[int, dict[str, Any]]:
    """What the client of any process gets for ``error``: its status and error body."""
    body = error_body(
        error_type=error.error_type, code=error.code, message=error.message, param=error.param
    )
    return status_for(error), body


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    status, body = status_and_body(exc)
    return JSONResponse(body, status_code=status)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    param = ".".join(loc) or None
    message = f"{param}: {first['msg']}" if param else str(first["msg"])
    body = error_body(
        error_type="invalid_request_error", code="parameter_invalid", message=message, param=param
    )
    return JSONResponse(body, status_code=400)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    body = error_body(
        error_type=_TYPE_BY_STATUS.get(exc.status_code, "api_error"),
        code=code,
        message=str(exc.detail),
    )
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
