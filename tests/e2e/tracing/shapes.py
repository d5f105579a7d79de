"""What the one-trace tests ask of a trace: a span by its fields, whether one span is under
another, the trace drawn for a failure message, and a process's log lines of one trace."""

import json
from pathlib import Path
from typing import Any

from tests.tracing.otlp_receiver import ReceivedSpan


def described(trace: list[ReceivedSpan]) -> str:
    by_id = {s.span_id: s for s in trace}
    lines = []
    for s in trace:
        parent = by_id.get(s.parent_span_id)
        lines.append(
            f"{s.service}:{s.kind}:{s.name} <- {parent.service + ':' + parent.name if parent else '-'}"
        )
    return "\n  ".join(sorted(lines))


def one(trace: list[ReceivedSpan], what: str, **match: Any) -> ReceivedSpan:
    """The span of ``trace`` whose fields equal ``match`` (exactly one)."""
    found = [s for s in trace if all(getattr(s, k) == v for k, v in match.items())]
    assert len(found) == 1, f"{what}: {len(found)} spans match {match} in\n  {described(trace)}"
    return found[0]


def under(trace: list[ReceivedSpan], span: ReceivedSpan, ancestor: ReceivedSpan) -> bool:
    """Whether ``ancestor`` is on ``span``'s path to the root."""
    by_id = {s.span_id: s for s in trace}
    at: ReceivedSpan | None = span
    while at is not None and at.parent_span_id:
        if at.parent_span_id == ancestor.span_id:
            return True
        at = by_id.get(at.parent_span_id)
    return False


def log_lines(path: Path, trace_id: str) -> list[dict[str, Any]]:
    lines = []
    for raw in path.read_text(errors="replace").splitlines():
        if trace_id in raw:
            try:
                lines.append(json.loads(raw))
            except ValueError:
                continue
    return [line for line in lines if line.get("trace_id") == trace_id]
