"""The WAF's transformations, after ModSecurity's ``t:`` functions as OWASP CRS chains them.

A rule never matches what the client sent but what a browser, a shell or a database would make
of it: percent and ``%uXXXX`` escapes decoded (overlong UTF-8 included), HTML entities and
JavaScript escapes resolved, SQL comments removed or replaced, shell quoting dropped. Each
function is pure ``str -> str`` so the scorer can chain and cache them per inspected value.
"""

import html
import re

_PERCENT = re.compile(r"%(?:u([0-9a-fA-F]{4})|([0-9a-fA-F]{2}))")
# Overlong UTF-8 (``%c0%ae`` is '.'): invalid for a strict decoder, yet old servers and some
# path normalisers accept it, which is why CRS 930100 lists these forms.
_OVERLONG = re.compile(rb"[\xc0\xc1][\x80-\xbf]|\xe0[\x80-\x9f][\x80-\xbf]")
# Unicode look-alikes that Windows and some normalisers fold into path syntax.
_FOLD = str.maketrans({"\uff0e": ".", "\u2024": ".", "\uff0f": "/", "\u2215": "/", "\uff3c": "\\"})
_JS_ESCAPE = re.compile(r"\\(?:u\{?([0-9a-fA-F]{1,6})\}?|x([0-9a-fA-F]{2})|([0-7]{1,3}))")
_CSS_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6})\s?")
_VERSIONED_COMMENT = re.compile(r"/\*![0-9]*|/\*\+")
_BLOCK_COMMENT = re.compile(r"/\*.*?(?:\*/|$)", re.DOTALL)
_LINE_COMMENT = re.compile(r"(?:--|#)[^\n]*")
_SPACES = re.compile(r"\s+")
_BLANKS = re.compile(r"[^\S\n\r]+")
_SHELL_QUOTING = re.compile(r"[\\'\"^]|\$@|\$\{?IFS\}?")


def _overlong(match: re.Match[bytes]) -> bytes:
    raw = match.group()
    if len(raw) == 2:
        code = ((raw[0] & 0x1F) << 6) | (raw[1] & 0x3F)
    else:
        code = ((raw[0] & 0x0F) << 12) | ((raw[1] & 0x3F) << 6) | (raw[2] & 0x3F)
    return chr(code).encode()


def url_decode_uni(text: str, plus: bool = True) -> str:
    """``t:urlDecodeUni`` + ``t:utf8toUnicode``: ``%HH``, ``%uHHHH`` and (unless ``plus`` is
    false, as in a path) ``+``; the bytes are read as UTF-8 with overlong forms folded to the
    character they spell. A parser's first decoding must be this one too: a strict UTF-8
    decoder turns ``%c0%ae`` into two replacement characters and hides the dot."""
    space = " " if plus else "+"
    if "%" not in text and "+" not in text:
        return text if text.isascii() else text.translate(_FOLD)
    out = bytearray()
    last = 0
    for match in _PERCENT.finditer(text):
        out += text[last : match.start()].replace("+", space).encode()
        if match.group(1):
            out += chr(int(match.group(1), 16)).encode()
        else:
            out.append(int(match.group(2), 16))
        last = match.end()
    out += text[last:].replace("+", space).encode()
    return _OVERLONG.sub(_overlong, bytes(out)).decode("utf-8", "replace").translate(_FOLD)


def remove_nulls(text: str) -> str:
    return text.replace("\x00", "")


def html_entity_decode(text: str) -> str:
    """``t:htmlEntityDecode``: named and numeric references, with or without the ``;``
    (``&#106avascript:`` works in a browser)."""
    return html.unescape(text) if "&" in text else text


def _js_char(match: re.Match[str]) -> str:
    hex_digits = match.group(1) or match.group(2)
    code = int(hex_digits, 16) if hex_digits else int(match.group(3), 8)
    return chr(code) if code < 0x110000 else ""


def js_decode(text: str) -> str:
    """``t:jsDecode``: ``\\uHHHH``, ``\\u{H..}``, ``\\xHH`` and octal escapes."""
    return _JS_ESCAPE.sub(_js_char, text) if "\\" in text else text


def css_decode(text: str) -> str:
    """``t:cssDecode``: ``\\HH`` escapes (``java\\73 cript:``)."""
    if "\\" not in text:
        return text
    return _CSS_ESCAPE.sub(lambda m: chr(min(int(m.group(1), 16), 0x10FFFF)), text)


def compress_whitespace(text: str) -> str:
    return _SPACES.sub(" ", text)


def compress_blanks(text: str) -> str:
    """``compressWhitespace`` that keeps line breaks: to a shell a newline separates commands."""
    return _BLANKS.sub(" ", text)


def remove_comments(text: str) -> str:
    """``t:removeComments``: ``UN/**/ION`` becomes ``UNION``. A MySQL versioned comment
    (``/*!50000UNION*/``) is code to MySQL, so its content is kept."""
    if "/*" not in text and "--" not in text and "#" not in text:
        return text
    text = _VERSIONED_COMMENT.sub("", text)
    return _LINE_COMMENT.sub("", _BLOCK_COMMENT.sub("", text)).replace("*/", "")


def replace_comments(text: str) -> str:
    """``t:replaceComments``: each ``/* ... */`` becomes one space (``UNION/**/SELECT``)."""
    if "/*" not in text:
        return text
    return _BLOCK_COMMENT.sub(" ", _VERSIONED_COMMENT.sub(" ", text)).replace("*/", " ")


def cmd_line(text: str) -> str:
    """``t:cmdLine`` (the part that matters before our command rules): shell quoting and
    escapes that a shell drops (``c'a't``, ``w\\ho``, ``c^md``, ``$@``) are removed, ``$IFS``
    is the space it expands to, and the text is lowercased."""
    return _SHELL_QUOTING.sub(
        lambda m: " " if m.group().lstrip("${").startswith("IFS") else "", text
    ).lower()


def normalize_path(text: str) -> str:
    """``t:normalizePathWin`` without resolving ``..`` (the traversal rules look for it)."""
    return text.replace("\\", "/").lower()
