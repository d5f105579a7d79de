"""What the environment asks of a process: only the standard ``OTEL_*`` variables decide."""

import pytest

from stackkit.tracing import TracingPlan


@pytest.mark.parametrize(
    ("environ", "exports", "why"),
    [
        ({}, False, "no OTLP endpoint"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, False, "no OTLP endpoint"),
        ({"OTEL_SERVICE_NAME": "x"}, False, "no OTLP endpoint"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, True, "exporting to http://c:4318"),
        (
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"},
            True,
            "exporting to http://c:4318/v1/traces",
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "TRUE"},
            False,
            "OTEL_SDK_DISABLED=true",
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "false"},
            True,
            "exporting to http://c:4318",
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"},
            False,
            "OTEL_TRACES_EXPORTER=none",
        ),
    ],
)
def test_only_an_endpoint_turns_export_on(environ: dict[str, str], exports: bool, why: str) -> None:
    plan = TracingPlan.from_environ(environ, "payments")
    assert (plan.exports, plan.why) == (exports, why)


def test_the_service_name_is_the_process_name_unless_otel_service_name_says() -> None:
    assert TracingPlan.from_environ({}, "payments-worker").service_name == "payments-worker"
    named = TracingPlan.from_environ({"OTEL_SERVICE_NAME": "pay"}, "payments-worker")
    assert named.service_name == "pay"
