"""Metric names out of PromQL, and out of a /metrics page, to check one against the other.

A small tokenizer, not a parser: strings, label matchers, ranges, groupings and Grafana's
variables are cut out; what is left that names a series (not a function call, keyword or
number) is a metric name. Syntax itself is promtool's to check (tests/contract).
"""

import re

KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"})
SYNTHETIC = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped",
                       "scrape_samples_post_metric_relabeling", "scrape_series_added", "ALERTS"})  # fmt: skip
"""Series Prometheus writes itself, for every target or rule."""

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_CUT = (
    re.compile(r"\{[^}]*\}"),  # label matchers
    re.compile(r"\[[^\]]*\]"),  # ranges and subqueries
    re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"),
    re.compile(r"\$\{[^}]*\}|\$\w+"),  # Grafana's variables
)
_NAME = re.compile(r"(?<![\w.:])[A-Za-z_:][A-Za-z0-9_:]*")
_SAMPLE = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_SERIES_OF = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("", "_sum", "_count"),
              "gaugehistogram": ("_bucket", "_gsum", "_gcount")}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    text = _STRING.sub("", expr)
    for pattern in _CUT:
        text = pattern.sub(" ", text)
    names = set()
    for match in _NAME.finditer(text):
        if match.group() in KEYWORDS or text[match.end() :].lstrip().startswith("("):
            continue
        names.add(match.group())
    return names


def exported_names(page: str) -> set[str]:
    """Every series name a text-format /metrics page offers, also for a labelled metric that
    has no sample yet (its ``# TYPE`` line says what series it will have)."""
    names = set()
    for line in page.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            names |= {name + suffix for suffix in _SERIES_OF.get(kind, ("",))}
        elif line and not line.startswith("#") and (sample := _SAMPLE.match(line)):
            names.add(sample.group())
    return names
