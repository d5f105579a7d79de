"""The one bearer-token parser: what counts as a token and what counts as none."""

import pytest

from stackkit.authorization import bearer_token


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer xoxp-1", "xoxp-1"),
        # The scheme is case-insensitive (RFC 9110 section 11.1).
        ("bearer xoxp-1", "xoxp-1"),
        ("BEARER xoxp-1", "xoxp-1"),
        ("bEaReR xoxp-1", "xoxp-1"),
        # Spaces around the token are dropped, however many.
        ("Bearer   xoxp-1", "xoxp-1"),
        ("Bearer xoxp-1   ", "xoxp-1"),
        ("Bearer \t xoxp-1 \t", "xoxp-1"),
        # The token is everything after the scheme, as sent: its validity is the caller's call.
        ("Bearer two words", "two words"),
        ("Bearer sk_test_=+/~.", "sk_test_=+/~."),
        ("Bearer tök", "tök"),
        ("Bearer t\xf6k", "t\xf6k"),  # latin-1 bytes, as ASGI servers decode headers
        ("Bearer 令牌", "令牌"),
    ],
)
def test_a_bearer_header_gives_its_token(header: str, token: str) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        " ",
        # The scheme alone, or followed by nothing but whitespace.
        "Bearer",
        "bearer",
        "Bearer ",
        "Bearer    ",
        "Bearer \t ",
        # Other schemes.
        "Basic c2tfdGVzdDo=",
        "Token xoxp-1",
        "Bearerxoxp-1",
        "Bearer-xoxp-1",
        # The scheme ends at the first space: a tab or a leading space is not one.
        "Bearer\txoxp-1",
        " Bearer xoxp-1",
        # A look-alike scheme (a Cyrillic ie, U+0435) is another scheme.
        "B\u0435arer xoxp-1",
    ],
)
def test_anything_else_has_no_token(header: str | None) -> None:
    assert bearer_token(header) is None
