"""The input gate every service app has: NUL bytes, integers past 64 bits and absurd nesting
are 400s naming the parameter, in the app's error shape, before any route or store sees them."""

import json
from collections.abc import Iterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from starlette.types import Scope

from stackkit.gate import MAX_DEPTH, Rejection
from stackkit.service import ReadinessCheck, create_service_app
from stackkit.settings import ServiceSettings


async def _nothing(app: FastAPI, stack: AsyncExitStack) -> dict[str, ReadinessCheck]:
    return {}


def _app(**kwargs: Any) -> FastAPI:
    app = create_service_app(
        name="widgets", settings=ServiceSettings(), lifespan_parts=(_nothing,), **kwargs
    )

    @app.post("/widgets/{name}")
    async def echo(name: str, request: Request) -> dict[str, Any]:
        # Reads the body as the services do (json.loads, which a deep body would crash).
        raw = await request.body()
        if request.headers.get("content-type") != "application/json":
            raw = b""
        return {
            "name": name,
            "body": json.loads(raw) if raw else None,
            "q": dict(request.query_params),
        }

    return app


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(_app(), raise_server_exceptions=False) as test_client:
        yield test_client


def _error(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["request_id"].startswith("req_")
    return error


def test_ordinary_requests_pass_with_their_body_intact(client: TestClient) -> None:
    body = {"updates": [{"id": f"d{i}", "n": 2**63 - 1, "x": -(2**63)} for i in range(100)]}
    answer = client.post("/widgets/a?x=1", json=body)
    assert answer.status_code == 200 and answer.json() == {
        "name": "a",
        "body": body,
        "q": {"x": "1"},
    }
    assert client.post("/widgets/a", content=b"a=1&b[c]=2").status_code == 200


def test_nul_in_the_path_names_the_path_parameter(client: TestClient) -> None:
    assert _error(client.post("/widgets/a%00b"))["param"] == "name"


@pytest.mark.parametrize("query", ["q=a%00b", "a%00=1", "q=%00"])
def test_nul_in_the_query_string(client: TestClient, query: str) -> None:
    assert _error(client.post(f"/widgets/a?{query}"))["param"] in ("q", "a")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"text": "a\x00b"}, "text"),
        ({"metadata": {"k": "\x00"}}, "metadata.k"),
        ({"metadata": {"k\x00": "v"}}, "metadata.k"),
        ({"users": ["U1", "U\x002"]}, "users.1"),
        ({"amount": 2**63}, "amount"),
        ({"amount": -(2**63) - 1}, "amount"),
        ({"amount": 10**30}, "amount"),
        ({"a": {"b": [2**64]}}, "a.b.0"),
    ],
)
def test_json_bodies(client: TestClient, body: dict[str, Any], param: str) -> None:
    error = _error(
        client.post(
            "/widgets/a", content=json.dumps(body), headers={"content-type": "application/json"}
        )
    )
    assert error["param"] == param


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 10_000])
def test_absurd_json_nesting_is_a_400_not_a_recursion_error(client: TestClient, depth: int) -> None:
    deep = "[" * depth + "]" * depth
    answer = client.post("/widgets/a", content=deep, headers={"content-type": "application/json"})
    assert _error(answer)["code"] in ("parameter_invalid", "invalid_json")
    assert "nested" in answer.json()["error"]["message"]


def test_malformed_json_nan_and_lone_surrogates_are_400s(client: TestClient) -> None:
    for raw in (b"{", b'{"a": NaN}', b'{"a": "\\ud800"}', b'{"a": 1e400}'):
        answer = client.post(
            "/widgets/a", content=raw, headers={"content-type": "application/json"}
        )
        assert _error(answer)["code"] == "invalid_json"


@pytest.mark.parametrize(
    ("form", "param"),
    [(b"name=a%00b", "name"), (b"metadata[k]=%00", "metadata[k]"), (b"a=\x00", "a")],
)
def test_form_bodies(client: TestClient, form: bytes, param: str) -> None:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    assert _error(client.post("/widgets/a", content=form, headers=headers))["param"] == param


def test_deep_form_keys_and_oversized_bodies(client: TestClient) -> None:
    key = "metadata" + "[a]" * 1000
    assert _error(client.post("/widgets/a", content=f"{key}=1".encode()))["param"] == key[:100]
    huge = client.post("/widgets/a", content=b"x" * (1024 * 1024 + 1))
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "request_too_large"


def test_an_app_renders_rejections_for_its_own_clients() -> None:
    def slack(scope: Scope, rejection: Rejection) -> tuple[int, dict[str, Any]]:
        return 200, {"ok": False, "error": "invalid_arguments", "param": rejection.param}

    with TestClient(_app(render_rejection=slack)) as test_client:
        answer = test_client.post("/widgets/a", data={"text": "a\x00"})
    assert (answer.status_code, answer.json()) == (
        200,
        {"ok": False, "error": "invalid_arguments", "param": "text"},
    )
