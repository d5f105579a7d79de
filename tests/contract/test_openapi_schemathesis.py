"""schemathesis against every service's OpenAPI document, on the services' own apps and real
servers: no 500 for any input, generated from the document (positive) or against it
(negative), and every response's status, content type and body as the document says.

Bounded for ``make test``: a few examples per operation and mode, no shrinking; a failure
prints schemathesis' report with a curl command that reproduces it."""

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis.strategies import SearchStrategy
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from devstack.stack import NativeStack

pytestmark = pytest.mark.integration

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = {GenerationMode.POSITIVE: 8, GenerationMode.NEGATIVE: 5}


def _payments_auth(base: str) -> dict[str, str]:
    created = httpx.post(f"{base}/dev/merchants", json={"name": "schemathesis"}, timeout=30)
    return {"authorization": f"Bearer {created.json()['secret_key']}"}


def _chat_auth(base: str) -> dict[str, str]:
    name = f"schemathesis-{uuid.uuid4().hex[:6]}"
    created = httpx.post(f"{base}/dev/users", json={"name": name}, timeout=30)
    return {"authorization": f"Bearer {created.json()['token']}"}


SERVICES: dict[str, Callable[[str], dict[str, str]] | None] = {
    "catalog": None,
    "dispatch": None,
    "chat": _chat_auth,
    "payments": _payments_auth,
    "edge-pop-1": None,
}
"""The edge's ops app is tried without its admin token: a generated config would reroute every
other test's PoP (the config log is shared), so its writes are checked as the 401s they are.
The acquirers are left out: they are payments' simulated banks, whose ``PUT /profile`` makes
them hang or fail on purpose (schemathesis found exactly that) and so every payment after it."""


def _run(case_strategy: SearchStrategy[Any], call: Callable[[Any], None], examples: int) -> None:
    @given(case=case_strategy)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        call(case)

    run()


@pytest.fixture(scope="module")
def services(origins: NativeStack) -> Iterator[NativeStack]:
    """The origins and one edge PoP (whose routes point at them)."""
    origins.start(["edge-pop-1"])
    try:
        yield origins
    finally:
        origins.stop(["edge-pop-1"])


@pytest.mark.parametrize("service", list(SERVICES))
def test_the_openapi_document_is_true(services: NativeStack, service: str) -> None:
    base = services.url(service)
    auth = SERVICES[service]
    headers = auth(base) if auth else {}
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    failures: list[str] = []

    def call(case: Any) -> None:
        case.call_and_validate(base_url=base, headers=headers, checks=CHECKS, timeout=30)

    for result in schema.get_all_operations():
        if isinstance(result, Err):
            failures.append(f"unusable operation: {result.err()}")
            continue
        operation = result.ok()
        for mode, examples in EXAMPLES.items():
            started = time.perf_counter()
            try:
                _run(operation.as_strategy(generation_mode=mode), call, examples)
            except Unsatisfiable:
                pass  # nothing in this operation can be made invalid (no parameters, free text)
            except (Exception, BaseExceptionGroup) as failure:  # schemathesis' FailureGroup
                failures.append(f"{operation.label} ({mode.value}): {failure}")
            print(f"{operation.label} {mode.value} {time.perf_counter() - started:.1f}s")
    assert not failures, f"{len(failures)} failures:\n\n" + "\n\n".join(failures)
