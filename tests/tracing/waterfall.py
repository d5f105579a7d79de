"""A trace drawn as a waterfall (one bar per span, children under their parent, coloured by
process), as a PNG: the README's picture of one trace comes from the payment trace test."""

from dataclasses import replace
from pathlib import Path

from tests.tracing.otlp_receiver import ReceivedSpan


def ordered(trace: list[ReceivedSpan]) -> list[tuple[int, ReceivedSpan]]:
    """Depth-first from the roots, children by start time: (depth, span)."""
    ids = {s.span_id for s in trace}
    children: dict[str, list[ReceivedSpan]] = {}
    for span in trace:
        parent = span.parent_span_id if span.parent_span_id in ids else ""
        children.setdefault(parent, []).append(span)
    out: list[tuple[int, ReceivedSpan]] = []

    def walk(parent: str, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: s.start_ns):
            out.append((depth, span))
            walk(span.span_id, depth + 1)

    walk("", 0)
    return out


def without_database_calls(trace: list[ReceivedSpan]) -> list[ReceivedSpan]:
    """The trace less its Postgres, Redis and CQL statements (dozens of slivers in a picture);
    their children, if any, hang from the statement's parent."""
    dropped = {s.span_id: s.parent_span_id for s in trace if "db.system" in s.attributes}

    def parent(span: ReceivedSpan) -> str:
        at = span.parent_span_id
        while at in dropped:
            at = dropped[at]
        return at

    return [replace(s, parent_span_id=parent(s)) for s in trace if s.span_id not in dropped]


def draw(trace: list[ReceivedSpan], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = ordered(trace)
    start = min(s.start_ns for s in trace)
    services = sorted({s.service for s in trace})
    palette = plt.get_cmap("tab10")
    colour = {name: palette(n % 10) for n, name in enumerate(services)}
    figure, axis = plt.subplots(figsize=(11, 0.24 * len(rows) + 1.2))
    for y, (depth, span) in enumerate(rows):
        left = (span.start_ns - start) / 1e6
        width = max((span.end_ns - span.start_ns) / 1e6, 0.05)
        axis.barh(y, width, left=left, color=colour[span.service], height=0.7)
        label = f"{span.service}: {span.name}"[:60]
        axis.text(-0.66 + 0.025 * depth, y, label, ha="left", va="center", fontsize=7,
                  transform=axis.get_yaxis_transform())  # fmt: skip
    axis.set_yticks([])
    axis.invert_yaxis()
    axis.set_xlabel("milliseconds since the trace began")
    axis.set_title(title, fontsize=9)
    axis.grid(axis="x", alpha=0.3)
    figure.subplots_adjust(
        left=0.4,
        right=0.98,
        top=1 - 0.4 / (0.24 * len(rows) + 1.2),
        bottom=0.6 / (0.24 * len(rows) + 1.2),
    )
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
