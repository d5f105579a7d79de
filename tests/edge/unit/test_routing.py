import pytest

from edge.routing import forwardable_headers, framing_problem


def test_hop_by_hop_headers_do_not_cross_the_proxy() -> None:
    headers = [
        ("Host", "edge"),
        ("Connection", "keep-alive, X-Private"),
        ("X-Private", "secret"),
        ("Transfer-Encoding", "chunked"),
        ("Content-Length", "10"),
        ("Authorization", "Bearer sk_test"),
        ("Idempotency-Key", "k1"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
    ]
    assert forwardable_headers(headers) == [
        ("Authorization", "Bearer sk_test"),
        ("Idempotency-Key", "k1"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
    ]


@pytest.mark.parametrize(
    "headers",
    [
        [("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
        [("Content-Length", "5"), ("Content-Length", "6")],
        [("Content-Length", "-1")],
        [("Content-Length", "5, 6")],
        [("Transfer-Encoding", "gzip, chunked")],
        [("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "identity")],
    ],
)
def test_ambiguous_framing_is_refused(headers: list[tuple[str, str]]) -> None:
    assert framing_problem(headers) is not None


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("Content-Length", "5")],
        [("Content-Length", "5"), ("content-length", "5")],
        [("Transfer-Encoding", "Chunked")],
    ],
)
def test_plain_framing_passes(headers: list[tuple[str, str]]) -> None:
    assert framing_problem(headers) is None
