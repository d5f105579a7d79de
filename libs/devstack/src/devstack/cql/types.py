"""CQL types: names, protocol type options, codecs (the driver's own) and sort order.

Cells are kept as their protocol-v4 serialized bytes; the driver's ``cassandra.cqltypes``
classes decode them where the server needs values (ordering, conditions, counters,
collection updates). Parameterized codecs are built from classes directly, never looked up in
the driver's global type registries, which the driver mutates as it parses.
"""

from __future__ import annotations

import math
import re
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Any

from cassandra import cqltypes

from devstack.cql.errors import InvalidRequest

PROTOCOL = 4

# name -> (protocol type id, driver codec)
SIMPLE_TYPES: dict[str, tuple[int, type[cqltypes._CassandraType]]] = {
    "ascii": (0x0001, cqltypes.AsciiType),
    "bigint": (0x0002, cqltypes.LongType),
    "blob": (0x0003, cqltypes.BytesType),
    "boolean": (0x0004, cqltypes.BooleanType),
    "counter": (0x0005, cqltypes.CounterColumnType),
    "decimal": (0x0006, cqltypes.DecimalType),
    "double": (0x0007, cqltypes.DoubleType),
    "float": (0x0008, cqltypes.FloatType),
    "int": (0x0009, cqltypes.Int32Type),
    "timestamp": (0x000B, cqltypes.DateType),
    "uuid": (0x000C, cqltypes.UUIDType),
    "varchar": (0x000D, cqltypes.UTF8Type),
    "text": (0x000D, cqltypes.UTF8Type),
    "varint": (0x000E, cqltypes.IntegerType),
    "timeuuid": (0x000F, cqltypes.TimeUUIDType),
    "inet": (0x0010, cqltypes.InetAddressType),
    "date": (0x0011, cqltypes.SimpleDateType),
    "smallint": (0x0013, cqltypes.ShortType),
    "tinyint": (0x0014, cqltypes.ByteType),
}
COLLECTIONS = {"list": 0x0020, "map": 0x0021, "set": 0x0022}
INTEGER_RANGES = {
    "tinyint": 8,
    "smallint": 16,
    "int": 32,
    "bigint": 64,
    "counter": 64,
}
_BIND_INT64 = struct.Struct(">q")


@dataclass(frozen=True)
class CqlType:
    name: str
    params: tuple[CqlType, ...] = ()
    frozen: bool = False

    def __str__(self) -> str:
        inner = self.name
        if self.params:
            inner = f"{self.name}<{', '.join(str(p) for p in self.params)}>"
        return f"frozen<{inner}>" if self.frozen and self.params else inner

    @property
    def is_collection(self) -> bool:
        return self.name in COLLECTIONS

    @property
    def is_counter(self) -> bool:
        return self.name == "counter"

    @cached_property
    def codec(self) -> Any:
        """The driver's codec class (cassandra.cqltypes), parameterized for collections."""
        if self.name == "list":
            return cqltypes.ListType.apply_parameters([self.params[0].codec])
        if self.name == "set":
            return cqltypes.SetType.apply_parameters([self.params[0].codec])
        if self.name == "map":
            return cqltypes.MapType.apply_parameters([p.codec for p in self.params])
        return SIMPLE_TYPES[self.name][1]

    def option(self) -> bytes:
        """The protocol's [option] describing this type."""
        if self.name in COLLECTIONS:
            return struct.pack(">H", COLLECTIONS[self.name]) + b"".join(
                p.option() for p in self.params
            )
        return struct.pack(">H", SIMPLE_TYPES[self.name][0])

    def decode(self, raw: bytes) -> Any:
        try:
            return self.codec.from_binary(raw, PROTOCOL)
        except Exception as exc:
            raise InvalidRequest(f"invalid {self} value: {exc}") from exc

    def encode(self, value: Any) -> bytes:
        try:
            encoded: bytes = self.codec.to_binary(value, PROTOCOL)
        except Exception as exc:
            raise InvalidRequest(f"cannot store {value!r} as {self}: {exc}") from exc
        return encoded

    def validate(self, raw: bytes) -> bytes:
        """Bound values arrive serialized; reject what the type cannot decode."""
        if self.name in ("text", "varchar", "ascii", "blob"):
            if self.name != "blob":
                self.decode(raw)
            return raw
        if self.name in INTEGER_RANGES and len(raw) * 8 != INTEGER_RANGES[self.name]:
            raise InvalidRequest(f"expected {INTEGER_RANGES[self.name] // 8} bytes for {self}")
        self.decode(raw)
        return raw

    def sort_key(self, raw: bytes) -> Any:
        """Orders serialized values the way Cassandra orders this type."""
        if self.name in ("text", "varchar", "ascii", "blob", "inet"):
            return raw
        if self.name == "timestamp":
            return _BIND_INT64.unpack(raw)[0]
        if self.name in ("uuid", "timeuuid"):
            value = uuid.UUID(bytes=raw)
            time_part = value.time if value.version == 1 else 0
            return (value.version or 0, time_part, raw) if self.name == "uuid" else (time_part, raw)
        if self.name in COLLECTIONS:
            return _collection_sort_key(self, self.decode(raw))
        value = self.decode(raw)
        if isinstance(value, float) and math.isnan(value):
            return math.inf
        return value


def _collection_sort_key(cql_type: CqlType, value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    if cql_type.name == "map":
        key_type, value_type = cql_type.params
        return tuple(
            (key_type.sort_key(key_type.encode(k)), value_type.sort_key(value_type.encode(v)))
            for k, v in value.items()
        )
    element = cql_type.params[0]
    return tuple(element.sort_key(element.encode(item)) for item in value)


class Descending:
    """Wraps a sort key so a DESC clustering column sorts in reverse."""

    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key

    def __lt__(self, other: Descending) -> bool:
        return bool(other.key < self.key)

    def __gt__(self, other: Descending) -> bool:
        return bool(other.key > self.key)

    def __le__(self, other: Descending) -> bool:
        return bool(other.key <= self.key)

    def __ge__(self, other: Descending) -> bool:
        return bool(other.key >= self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Descending) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)


# -- literals from CQL text -------------------------------------------------------------------

_TIMESTAMP_FORMATS = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)


def _parse_timestamp(text: str) -> datetime:
    match = _TIMESTAMP_FORMATS.match(text.strip())
    if not match:
        raise InvalidRequest(f"unable to parse a timestamp from {text!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    moment = datetime(
        int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
        int((fraction or "0").ljust(6, "0")), tzinfo=UTC,
    )  # fmt: skip
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 60 + int(digits[2:]))
        return moment.replace(tzinfo=None) - timedelta(minutes=offset)
    return moment.replace(tzinfo=None)


def coerce_literal(cql_type: CqlType, kind: str, value: Any) -> Any:
    """A parsed literal as the Python value the driver's codec for ``cql_type`` accepts."""
    name = cql_type.name
    if kind == "null":
        return None
    if name in ("text", "varchar", "ascii"):
        if kind != "string":
            raise InvalidRequest(f"invalid {kind} constant ({value}) for a {name} column")
        return value
    if name in INTEGER_RANGES or name == "varint":
        if kind != "integer":
            raise InvalidRequest(f"invalid {kind} constant ({value}) for a {name} column")
        bits = INTEGER_RANGES.get(name)
        if bits and not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
            raise InvalidRequest(f"{value} is out of range for {name}")
        return value
    if name in ("float", "double", "decimal"):
        if kind not in ("integer", "float"):
            raise InvalidRequest(f"invalid {kind} constant ({value}) for a {name} column")
        return float(value) if name != "decimal" else value
    if name == "boolean":
        if kind != "boolean":
            raise InvalidRequest(f"invalid {kind} constant ({value}) for a boolean column")
        return value
    if name == "timestamp":
        if kind == "integer":
            return value
        if kind == "string":
            return _parse_timestamp(value)
        raise InvalidRequest(f"invalid {kind} constant ({value}) for a timestamp column")
    if name == "date":
        if kind == "string":
            return date.fromisoformat(value)
        raise InvalidRequest(f"invalid {kind} constant ({value}) for a date column")
    if name in ("uuid", "timeuuid"):
        if kind in ("uuid", "string"):
            try:
                parsed = uuid.UUID(str(value))
            except ValueError as exc:
                raise InvalidRequest(f"invalid uuid {value!r}") from exc
            if name == "timeuuid" and parsed.version != 1:
                raise InvalidRequest(f"{value} is not a time-based (version 1) uuid")
            return parsed
        raise InvalidRequest(f"invalid {kind} constant ({value}) for a {name} column")
    if name == "blob":
        if kind == "blob":
            return value
        raise InvalidRequest(f"invalid {kind} constant ({value}) for a blob column")
    if name == "inet":
        if kind == "string":
            return value
        raise InvalidRequest(f"invalid {kind} constant ({value}) for an inet column")
    raise InvalidRequest(f"literals of type {cql_type} are not supported")
