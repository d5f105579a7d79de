"""Slack's shapes: ids, message timestamps, channel names and pagination cursors."""

import base64
import binascii
import re
import secrets

from stackkit.errors import Invalid

_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
CHANNEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
USER_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
MAX_TEXT = 40_000  # Slack truncates at 40,000 characters; we refuse (msg_too_long)


def new_id(prefix: str) -> str:
    """A Slack-looking id: ``U`` for users, ``C`` for channels, then 10 characters."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))


def format_ts(ts_us: int) -> str:
    """Slack's message id: seconds and microseconds, ``"1700000000.000123"``."""
    return f"{ts_us // 1_000_000}.{ts_us % 1_000_000:06d}"


def parse_ts(ts: str, *, param: str) -> int:
    match = re.fullmatch(r"(\d{1,12})(?:\.(\d{1,6}))?", ts.strip())
    if not match:
        raise Invalid(f"{param} is not a Slack timestamp like 1700000000.000100", param=param)
    seconds, fraction = match.groups()
    return int(seconds) * 1_000_000 + int((fraction or "0").ljust(6, "0"))


def encode_cursor(kind: str, value: str | int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode()


def decode_cursor(cursor: str, kind: str) -> str:
    """The value of a cursor this API handed out; ``Invalid`` (``invalid_cursor``) otherwise."""
    try:
        decoded = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise _invalid_cursor() from error
    found, _, value = decoded.partition(":")
    if found != kind or not value:
        raise _invalid_cursor()
    return value


def _invalid_cursor() -> Invalid:
    return Invalid("invalid_cursor: not a cursor this API handed out", code="invalid_cursor",
                   param="cursor")  # fmt: skip
