"""The error model on the wire: the status table, the body, and rendering a domain error."""

import inspect
from collections.abc import Iterator

import pytest

from stackkit import errors
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
from stackkit.http_errors import STATUS_BY_ERROR, error_body, status_and_body, status_for
from stackkit.request_context import set_request_id


@pytest.fixture(autouse=True)
def no_request_id() -> Iterator[None]:
    set_request_id(None)
    yield
    set_request_id(None)


@pytest.mark.parametrize(
    ("error", "status", "error_type", "code"),
    [
        (Invalid("bad"), 400, "invalid_request_error", "invalid"),
        (Unauthorized("who"), 401, "authentication_error", "unauthorized"),
        (NotFound("gone"), 404, "invalid_request_error", "resource_missing"),
        (Conflict("busy"), 409, "invalid_request_error", "conflict"),
        (UpstreamUnreachable("down"), 502, "api_error", "upstream_unreachable"),
        (Unavailable("later"), 503, "api_error", "dependency_unavailable"),
        (Contended("again"), 503, "api_error", "lock_timeout"),
        (UpstreamTimeout("slow"), 504, "api_error", "upstream_timeout"),
    ],
)
def test_each_shared_error_has_its_status_type_and_code(
    error: DomainError, status: int, error_type: str, code: str
) -> None:
    assert status_for(error) == status
    assert (error.error_type, error.code) == (error_type, code)


def test_the_table_lists_every_shared_error_class() -> None:
    shared = {
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, DomainError) and cls is not DomainError
    }
    assert set(STATUS_BY_ERROR) == shared


def test_a_subclass_takes_its_nearest_listed_ancestors_status() -> None:
    class Reused(Invalid):
        error_type = "idempotency_error"

    class InUse(Reused):
        pass

    class Busy(Conflict):
        pass

    assert status_for(Reused("x")) == 400
    assert status_for(InUse("x")) == 400
    assert status_for(Busy("x")) == 409


def test_an_error_outside_the_table_is_bad_input_never_a_500() -> None:
    class Odd(DomainError):
        pass

    assert status_for(Odd("x")) == 400
    assert status_for(DomainError("x")) == 400


def test_a_code_given_when_raised_overrides_the_class_code() -> None:
    error = NotFound("no such channel", code="channel_not_found", param="channel")
    assert (error.code, error.param, error.message, str(error)) == (
        "channel_not_found",
        "channel",
        "no such channel",
        "no such channel",
    )
    assert NotFound("x").code == "resource_missing"  # the class default is untouched


def test_the_body_has_every_field_in_order_and_the_request_id() -> None:
    body = error_body(error_type="api_error", code="internal_error", message="internal error")
    assert body == {
        "error": {
            "type": "api_error",
            "code": "internal_error",
            "message": "internal error",
            "param": None,
            "request_id": None,
        }
    }
    assert list(body["error"]) == ["type", "code", "message", "param", "request_id"]
    set_request_id("req_abc")
    assert error_body(error_type="t", code="c", message="m", param="p")["error"] == {
        "type": "t",
        "code": "c",
        "message": "m",
        "param": "p",
        "request_id": "req_abc",
    }


def test_status_and_body_render_a_domain_error_whole() -> None:
    set_request_id("req_1")
    error = Invalid("amount: too small", param="amount", code="amount_too_small")
    assert status_and_body(error) == (
        400,
        error_body(
            error_type="invalid_request_error",
            code="amount_too_small",
            message="amount: too small",
            param="amount",
        ),
    )
    assert status_and_body(UpstreamTimeout("/catalog timed out")) == (
        504,
        {
            "error": {
                "type": "api_error",
                "code": "upstream_timeout",
                "message": "/catalog timed out",
                "param": None,
                "request_id": "req_1",
            }
        },
    )
