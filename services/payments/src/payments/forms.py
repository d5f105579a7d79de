"""Request bodies as Stripe sends them: form-encoded with bracketed keys, or JSON."""

import json
from typing import Any
from urllib.parse import parse_qsl

from payments.domain.errors import InvalidRequest

MAX_DEPTH = 5


def _path(key: str) -> list[str]:
    if "[" not in key:
        return [key]
    head, _, rest = key.partition("[")
    if not head or not rest.endswith("]"):
        raise InvalidRequest(f"Invalid parameter name: {key}", param=key, code="parameter_invalid")
    parts = [head, *rest[:-1].split("][")]
    if len(parts) > MAX_DEPTH or any("[" in p or "]" in p for p in parts):
        raise InvalidRequest(f"Invalid parameter name: {key}", param=key, code="parameter_invalid")
    return parts


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        converted = {key: _listify(value) for key, value in node.items()}
        if converted and all(key.isdigit() or key == "" for key in converted):
            if "" in converted:
                return [converted[""]] if len(converted) == 1 else list(converted.values())
            return [converted[key] for key in sorted(converted, key=int)]
        return converted
    return node


def decode_form(body: bytes) -> dict[str, Any]:
    """``metadata[a]=1&items[0][x]=2`` -> ``{"metadata": {"a": "1"}, "items": [{"x": "2"}]}``."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest(f"Invalid request body: {exc}", code="parameter_invalid") from exc
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = _path(key)
        node = root
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise InvalidRequest(
                    f"Invalid parameter name: {key}", param=key, code="parameter_invalid"
                )
            node = child
        if isinstance(node.get(parts[-1]), dict):
            raise InvalidRequest(
                f"Invalid parameter name: {key}", param=key, code="parameter_invalid"
            )
        node[parts[-1]] = value
    decoded: dict[str, Any] = _listify(root)
    return decoded


def decode_body(body: bytes, content_type: str) -> dict[str, Any]:
    if not body.strip():
        return {}
    if content_type.split(";")[0].strip() == "application/json":
        try:
            parsed = json.loads(body)
        except ValueError as exc:
            raise InvalidRequest(f"Invalid JSON body: {exc}", code="parameter_invalid") from exc
        if not isinstance(parsed, dict):
            raise InvalidRequest("The request body must be an object.", code="parameter_invalid")
        return parsed
    return decode_form(body)
