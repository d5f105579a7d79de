"""The WAF against a corpus of attacks and of ordinary inputs (tests/edge/waf_corpus/).

Both rates are printed (``pytest -s``) and asserted: at least 95% of the attacks blocked, at most
1% of the benign inputs blocked, and none of the sentences that the old rule set blocked.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from edge.domain.waf import Verdict, WafPolicy, inspect

CORPUS = Path(__file__).parents[1] / "waf_corpus"
POLICY = WafPolicy()
BASE_HEADERS = [("Host", "edge.example"), ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64)")]
NAMED_SENTENCES = (
    "trade union select committee",
    "baby sleep (tips)",
    "meeting notes; update status tomorrow",
    "onclick= in html",
)


@dataclass(frozen=True)
class Case:
    where: str
    payload: str


def _lines(name: str) -> list[str]:
    text = (CORPUS / name).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def _attacks() -> list[Case]:
    cases = []
    for line in _lines("attacks.txt"):
        where, _, payload = line.partition("\t")
        cases.append(Case(where, payload))
    return cases


BENIGN = _lines("benign.txt")
ATTACKS = _attacks()


def send(case: Case) -> Verdict:
    """Inspect the request a client would send with the payload in ``case.where``."""
    path, query, headers, body = "/catalog/v1/titles", "", list(BASE_HEADERS), None
    where, payload = case.where, case.payload
    if where == "query":
        query = "q=" + quote(payload, safe="")
    elif where == "raw-query":
        query = payload
    elif where == "path":
        path = "/catalog/v1/titles/" + quote(payload, safe="")
    elif where == "raw-path":
        path = payload
    elif where == "cookie":
        # A cookie value cannot hold a raw ';' (it ends the cookie): attackers encode it.
        headers.append(("Cookie", f"theme=dark; session={payload.replace(';', '%3B')}"))
    elif where.startswith("header:"):
        headers = [h for h in headers if h[0].lower() != where[7:].lower()]
        headers.append((where.removeprefix("header:"), payload))
    elif where in ("json", "raw-json"):
        headers.append(("Content-Type", "application/json"))
        body = (payload if where == "raw-json" else json.dumps({"text": payload})).encode()
    elif where == "form":
        headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        body = ("text=" + quote(payload, safe="")).encode()
    else:
        raise AssertionError(f"unknown location {where!r}")
    method = "GET" if body is None else "POST"
    return inspect(method, path, query, headers, POLICY, body=body)


def test_the_corpus_is_big_enough() -> None:
    assert len(ATTACKS) >= 150
    assert len(BENIGN) >= 300
    assert {c.where for c in ATTACKS} >= {"query", "path", "cookie", "json", "form"}


def test_attack_detection_rate() -> None:
    missed = [case for case in ATTACKS if not send(case).blocked]
    rate = 1 - len(missed) / len(ATTACKS)
    print(f"\nWAF attack detection: {rate:.1%} of {len(ATTACKS)}; missed: {missed}")
    assert rate >= 0.95, missed


@pytest.mark.parametrize("where", ["query", "path", "json", "cookie"])
def test_benign_false_positive_rate(where: str) -> None:
    blocked = [
        (text, verdict.matched) for text in BENIGN if (verdict := send(Case(where, text))).blocked
    ]
    rate = len(blocked) / len(BENIGN)
    print(f"\nWAF false positives ({where}): {rate:.1%} of {len(BENIGN)}; blocked: {blocked}")
    assert rate <= 0.01, blocked


@pytest.mark.parametrize("sentence", NAMED_SENTENCES)
@pytest.mark.parametrize("where", ["query", "path", "json", "cookie"])
def test_the_sentences_the_old_rules_blocked_pass(where: str, sentence: str) -> None:
    verdict = send(Case(where, sentence))
    assert not verdict.blocked, verdict
