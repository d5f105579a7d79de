"""Web application firewall: OWASP CRS paranoia level 1 with anomaly scoring, as Cloudflare's
managed WAF runs it.

Every managed rule (``waf_rules``) that matches adds its severity's score once; a request at or
over the threshold (5: one critical, or two warnings) is blocked, naming the rule that scored
highest. Rules see what CRS variables hold: each query and body parameter and its name, each path
segment, each cookie, the whole path, and some headers, every one decoded by the parser and then
by the rule's transformations (so double encoding is seen through). Custom rules from the config
plane keep their old view: the decoded path and query, and optionally the header values.
"""

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from edge.domain.waf_rules import (
    CRITICAL,
    RULES,
    VIEWS,
    WARNING,
    ManagedRule,
    Target,
    gate_text,
    gate_tokens,
    url_view,
)
from edge.domain.waf_transforms import url_decode_uni

__all__ = ["CRITICAL", "WARNING", "Rule", "Verdict", "WafPolicy", "inspect"]

DEFAULT_THRESHOLD = 5
ALLOWED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
MAX_HEADER_VALUE_BYTES = 8 * 1024
MAX_HEADERS_BYTES = 32 * 1024
MAX_BODY_BYTES = 128 * 1024
"""Bodies are inspected up to here (CRS's SecRequestBodyLimit plays this part)."""
MAX_VALUES = 1000


@dataclass(frozen=True)
class Rule:
    """A custom rule from the config plane."""

    id: str
    description: str
    pattern: re.Pattern[str]
    score: int = CRITICAL
    in_headers: bool = False
    """Also match header values (not only the path and query)."""


METHOD_RULE_ID = "911100"
HEADER_SIZE_RULE_ID = "920380"
NULL_BYTE_RULE_ID = "920270"


@dataclass(frozen=True)
class WafPolicy:
    threshold: int = DEFAULT_THRESHOLD
    disabled: frozenset[str] = frozenset()
    custom: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class Verdict:
    score: int
    matched: tuple[str, ...] = field(default=())
    blocked_by: str | None = None

    @property
    def blocked(self) -> bool:
        return self.blocked_by is not None


def _decoded(text: str) -> str:
    return url_decode_uni(url_decode_uni(text))


_HEADER_TARGETS: dict[str, int] = {
    "user-agent": Target.UA_REFERER | Target.HEADER,
    "referer": Target.UA_REFERER,
}


def _json_values(node: object, depth: int = 0) -> Iterator[str]:
    if depth > 32:
        return
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _json_values(value, depth + 1)
    elif isinstance(node, list):
        for item in node:
            yield from _json_values(item, depth + 1)
    elif isinstance(node, str):
        yield node


def _params(text: str) -> Iterator[str]:
    """``a=1&b=2`` -> names and values, decoded as the rules' own first decoding does."""
    for pair in text.split("&"):
        name, _, value = pair.partition("=")
        yield url_decode_uni(name)
        yield url_decode_uni(value)


def _body_values(body: bytes, content_type: str) -> Iterator[str]:
    text = body[:MAX_BODY_BYTES].decode("utf-8", "replace")
    if "application/x-www-form-urlencoded" in content_type:
        yield from _params(text)
    elif "json" in content_type:
        try:
            yield from _json_values(json.loads(text))
        except (ValueError, RecursionError):
            yield text  # not JSON after all: its text is a value like any other


def _values(
    path: str, query: str, headers: list[tuple[str, str]], body: bytes | None
) -> list[tuple[int, str]]:
    """What CRS calls the request's variables, each once decoded (as a parser would)."""
    decoded_path = url_decode_uni(path, plus=False)
    values: list[tuple[int, str]] = [(Target.PATH, decoded_path)]
    values += [(Target.ARG, segment) for segment in decoded_path.split("/") if segment]
    values += [(Target.ARG, param) for param in _params(query)]
    content_type = ""
    for name, value in headers:
        lower = name.lower()
        if lower == "cookie":
            for pair in value.split(";"):
                cookie_name, _, cookie_value = pair.strip().partition("=")
                values += [(Target.COOKIE, cookie_name), (Target.COOKIE, cookie_value)]
            continue
        if lower == "content-type":
            content_type = value.lower()
        values.append((_HEADER_TARGETS.get(lower, Target.HEADER), value))
    if body:
        values += [(Target.ARG, value) for value in _body_values(body, content_type)]
    return [(target, value) for target, value in values[:MAX_VALUES] if value]


class _Views:
    """Each value's gate tokens and transformed views, computed at most once per request."""

    def __init__(self, values: list[tuple[int, str]]) -> None:
        urls = [url_view(value) for _, value in values]
        tokens = [
            gate_tokens(gate_text(url), target)
            for url, (target, _) in zip(urls, values, strict=True)
        ]
        # A value holding no rule's gate substring (an id, a number, a word) is done with here.
        kept = [i for i, found in enumerate(tokens) if found]
        self._urls = [urls[i] for i in kept]
        self._tokens = [tokens[i] for i in kept]
        self._targets = [values[i][0] for i in kept]
        self.present: frozenset[str] = frozenset().union(*self._tokens)
        """Every gate substring some value holds: a rule gated on none of them is skipped."""
        self._by_targets: dict[int, list[int]] = {}
        self._cache: dict[tuple[int, str], str] = {}

    def match(self, rule: ManagedRule) -> bool:
        indexes = self._by_targets.get(rule.targets)
        if indexes is None:
            indexes = self._by_targets[rule.targets] = [
                i for i, target in enumerate(self._targets) if target & rule.targets
            ]
        for index in indexes:
            if rule.gate.isdisjoint(self._tokens[index]):
                continue
            for view in rule.views:
                key = (index, view)
                text = self._cache.get(key)
                if text is None:
                    text = self._cache[key] = VIEWS[view](self._urls[index])
                if rule.pattern.search(text):
                    return True
        return False


def inspect(
    method: str,
    path: str,
    query: str,
    headers: list[tuple[str, str]],
    policy: WafPolicy,
    body: bytes | None = None,
) -> Verdict:
    """Score a request; ``blocked_by`` is the highest-scoring rule (the first of them in rule
    order) when the score reaches the threshold. ``path`` and ``query`` are as received (still
    percent-encoded); ``body``, when given, is inspected as form or JSON parameters according
    to the Content-Type header."""
    hits: list[tuple[int, str]] = []
    if method.upper() not in ALLOWED_METHODS:
        hits.append((CRITICAL, METHOD_RULE_ID))
    total_header_bytes = sum(len(k) + len(v) for k, v in headers)
    if total_header_bytes > MAX_HEADERS_BYTES or any(
        len(v) > MAX_HEADER_VALUE_BYTES for _, v in headers
    ):
        hits.append((CRITICAL, HEADER_SIZE_RULE_ID))
    target = _decoded(path) + "?" + _decoded(query)
    if "\x00" in target:
        hits.append((CRITICAL, NULL_BYTE_RULE_ID))
    views = _Views(_values(path, query, headers, body))
    scored: set[str] = set()  # a rule id scores once, however many of its patterns match
    for rule in RULES:
        if rule.gate.isdisjoint(views.present) or rule.id in policy.disabled:
            continue
        if rule.id not in scored and views.match(rule):
            scored.add(rule.id)
            hits.append((rule.score, rule.id))
    if policy.custom:
        header_text = "\n".join(_decoded(v) for k, v in headers if k.lower() != "cookie")
        for custom in policy.custom:
            if custom.pattern.search(target) or (
                custom.in_headers and custom.pattern.search(header_text)
            ):
                hits.append((custom.score, custom.id))
    hits = [(score, rule_id) for score, rule_id in hits if rule_id not in policy.disabled]
    score = sum(score for score, _ in hits)
    matched = tuple(rule_id for _, rule_id in hits)
    if score >= policy.threshold and hits:
        return Verdict(score, matched, max(hits, key=lambda hit: hit[0])[1])
    return Verdict(score, matched)
