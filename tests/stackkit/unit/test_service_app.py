"""The app every service is built with: errors, health, readiness, metrics, request ids."""

from collections.abc import Iterator
from contextlib import AsyncExitStack

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from stackkit.errors import Conflict, Invalid, NotFound, Unauthorized
from stackkit.service import ReadinessCheck, create_service_app
from stackkit.settings import ServiceSettings


class Widget(BaseModel):
    name: str
    size: int


class Switch:
    def __init__(self) -> None:
        self.up = True

    async def check(self) -> None:
        if not self.up:
            raise ConnectionError("refused")


@pytest.fixture
def switch() -> Switch:
    return Switch()


@pytest.fixture
def client(switch: Switch) -> Iterator[TestClient]:
    async def open_resources(app: FastAPI, stack: AsyncExitStack) -> dict[str, ReadinessCheck]:
        return {"widgets-db": switch.check}

    app = create_service_app(
        name="widgets", settings=ServiceSettings(), lifespan_parts=(open_resources,)
    )

    @app.post("/widgets")
    async def create(widget: Widget) -> Widget:
        return widget

    @app.get("/widgets/{name}")
    async def fetch(name: str) -> Widget:
        errors = {
            "missing": NotFound("no such widget", param="name"),
            "taken": Conflict("widget is busy"),
            "bad": Invalid("bad widget", param="name", code="widget_invalid"),
            "anon": Unauthorized("who are you"),
        }
        if name in errors:
            raise errors[name]
        if name == "boom":
            raise RuntimeError("bug")
        return Widget(name=name, size=1)

    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_healthz_is_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": "widgets"}


def test_readyz_reports_each_dependency(client: TestClient, switch: Switch) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"widgets-db": "ok"}
    switch.up = False
    not_ready = client.get("/readyz")
    assert not_ready.status_code == 503
    assert not_ready.json()["status"] == "unavailable"
    assert "ConnectionError" in not_ready.json()["checks"]["widgets-db"]


@pytest.mark.parametrize(
    ("name", "status", "error_type", "code", "param"),
    [
        ("missing", 404, "invalid_request_error", "resource_missing", "name"),
        ("taken", 409, "invalid_request_error", "conflict", None),
        ("bad", 400, "invalid_request_error", "widget_invalid", "name"),
        ("anon", 401, "authentication_error", "unauthorized", None),
        ("boom", 500, "api_error", "internal_error", None),
    ],
)
def test_errors_use_the_one_error_model(
    client: TestClient, name: str, status: int, error_type: str, code: str, param: str | None
) -> None:
    response = client.get(f"/widgets/{name}")
    assert response.status_code == status
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (error_type, code, param)
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("body", "param"),
    [({"name": "a", "size": "huge"}, "size"), ({"size": 1}, "name"), ([1, 2], None)],
)
def test_bad_input_is_a_400_never_a_500(
    client: TestClient, body: object, param: str | None
) -> None:
    response = client.post("/widgets", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parameter_invalid"
    assert response.json()["error"]["param"] == param


def test_malformed_json_is_a_400(client: TestClient) -> None:
    response = client.post(
        "/widgets", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400


def test_unknown_route_and_method_use_the_error_model(client: TestClient) -> None:
    assert client.get("/nowhere").json()["error"]["code"] == "not_found"
    response = client.delete("/widgets")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_a_callers_request_id_is_kept(client: TestClient) -> None:
    response = client.get("/widgets/missing", headers={"x-request-id": "req_from_edge"})
    assert response.headers["x-request-id"] == "req_from_edge"
    assert response.json()["error"]["request_id"] == "req_from_edge"


def test_metrics_count_requests_by_route_template(client: TestClient) -> None:
    client.get("/widgets/one")
    client.get("/widgets/two")
    client.get("/widgets/missing")
    text = client.get("/metrics").text
    assert 'http_requests_total{method="GET",route="/widgets/{name}",status="200"} 2.0' in text
    assert 'http_requests_total{method="GET",route="/widgets/{name}",status="404"} 1.0' in text
    assert 'http_request_duration_seconds_count{method="GET",route="/widgets/{name}"} 3.0' in text


def test_openapi_docs_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    assert "/widgets" in client.get("/openapi.json").json()["paths"]


def test_behind_a_path_prefix_the_docs_point_at_the_prefixed_openapi(client: TestClient) -> None:
    prefixed = {"x-forwarded-prefix": "/widgets-service"}
    docs = client.get("/docs", headers=prefixed)
    assert "'/widgets-service/openapi.json'" in docs.text
    assert client.get("/widgets/one", headers=prefixed).json() == {"name": "one", "size": 1}
    assert client.get("/openapi.json", headers=prefixed).status_code == 200
