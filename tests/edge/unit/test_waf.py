import re

import pytest

from edge.domain.waf import Rule, Verdict, WafPolicy, inspect

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
