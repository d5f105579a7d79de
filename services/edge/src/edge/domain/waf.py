"""A small core rule set with anomaly scoring, after OWASP CRS as Cloudflare's managed WAF runs it.

Each matching rule adds its score; a request at or over the threshold is blocked, naming the
rule that scored highest. Matching sees the URL-decoded path and query (decoded twice, as
double encoding is a classic evasion) and the header values.
"""

import re
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

CRITICAL = 5
WARNING = 3
DEFAULT_THRESHOLD = 5
ALLOWED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
MAX_HEADER_VALUE_BYTES = 8 * 1024
MAX_HEADERS_BYTES = 32 * 1024


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    pattern: re.Pattern[str]
    score: int = CRITICAL
    in_headers: bool = False
    """Also match header values (not only the path and query)."""


def _rule(
    rule_id: str, description: str, pattern: str, score: int = CRITICAL, in_headers: bool = False
) -> Rule:
    return Rule(rule_id, description, re.compile(pattern, re.IGNORECASE), score, in_headers)


CORE_RULES: tuple[Rule, ...] = (
    _rule(
        "942100",
        "SQL injection: boolean tautology",
        r"['\"`]\s*(or|and)\s+['\"`]?\w+['\"`]?\s*(=|like)\s*['\"`]?\w+",
    ),
    _rule("942190", "SQL injection: UNION SELECT", r"\bunion\b[\s(/*]+(all\s+)?select\b"),
    _rule(
        "942110",
        "SQL injection: stacked query",
        r";\s*(drop|delete|insert|update|alter|truncate)\s+\w+",
    ),
    _rule(
        "942160",
        "SQL injection: time-based probe",
        r"\b(sleep|pg_sleep|benchmark|waitfor\s+delay)\s*\(",
    ),
    _rule("942440", "SQL comment sequence", r"(--\s*$|/\*!?|\*/)", WARNING),
    _rule("941100", "XSS: script tag", r"<\s*script\b", in_headers=True),
    _rule(
        "941110",
        "XSS: event handler attribute",
        r"\bon(error|load|click|mouseover|focus)\s*=",
        in_headers=True,
    ),
    _rule("941170", "XSS: javascript: URI", r"javascript\s*:", in_headers=True),
    _rule("930100", "Path traversal", r"(^|[\\/])\.\.([\\/]|$)"),
    _rule("930120", "OS file access", r"/etc/(passwd|shadow)|\\windows\\win\.ini"),
    _rule(
        "932100",
        "Unix command injection",
        r"[;|`]\s*(cat|wget|curl|nc|bash|sh)\b|\$\(\s*\w+",
        WARNING,
    ),
)
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
    return unquote_plus(unquote_plus(text))


def inspect(
    method: str, path: str, query: str, headers: list[tuple[str, str]], policy: WafPolicy
) -> Verdict:
    """Score a request; ``blocked_by`` is the highest-scoring rule when the score reaches the
    threshold."""
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
    header_text = "\n".join(_decoded(v) for k, v in headers if k.lower() not in ("cookie",))
    for rule in (*CORE_RULES, *policy.custom):
        if rule.pattern.search(target) or (rule.in_headers and rule.pattern.search(header_text)):
            hits.append((rule.score, rule.id))
    hits = [(score, rule_id) for score, rule_id in hits if rule_id not in policy.disabled]
    score = sum(score for score, _ in hits)
    matched = tuple(rule_id for _, rule_id in hits)
    if score >= policy.threshold and hits:
        return Verdict(score, matched, max(hits, key=lambda hit: hit[0])[1])
    return Verdict(score, matched)
