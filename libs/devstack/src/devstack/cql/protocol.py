"""The CQL native protocol v3/v4 wire format: frames, primitives, requests and responses."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from devstack.cql.binding import UNSET, ColumnSpec
from devstack.cql.errors import AlreadyExists, CqlError, ProtocolError, Unprepared
from devstack.cql.reads import Page

SUPPORTED_VERSIONS = (3, 4)
HEADER = struct.Struct(">BBhBi")
MAX_FRAME_BYTES = 16 * 1024 * 1024

# opcodes
ERROR, STARTUP, READY, AUTHENTICATE = 0x00, 0x01, 0x02, 0x03
OPTIONS, SUPPORTED, QUERY, RESULT = 0x05, 0x06, 0x07, 0x08
PREPARE, EXECUTE, REGISTER, EVENT = 0x09, 0x0A, 0x0B, 0x0C
BATCH, AUTH_RESPONSE = 0x0D, 0x0F
REQUEST_OPCODES = {STARTUP, OPTIONS, QUERY, PREPARE, EXECUTE, REGISTER, BATCH, AUTH_RESPONSE}

# header flags
FLAG_COMPRESSION, FLAG_TRACING, FLAG_CUSTOM_PAYLOAD = 0x01, 0x02, 0x04

# query parameter flags
VALUES, SKIP_METADATA, PAGE_SIZE, PAGING_STATE = 0x01, 0x02, 0x04, 0x08
SERIAL_CONSISTENCY, DEFAULT_TIMESTAMP, VALUE_NAMES = 0x10, 0x20, 0x40

# rows metadata flags
GLOBAL_TABLES_SPEC, HAS_MORE_PAGES, NO_METADATA = 0x0001, 0x0002, 0x0004


@dataclass(frozen=True)
class FrameHeader:
    version: int
    flags: int
    stream: int
    opcode: int
    length: int

    @classmethod
    def parse(cls, raw: bytes) -> FrameHeader:
        version, flags, stream, opcode, length = HEADER.unpack(raw)
        return cls(version, flags, stream, opcode, length)


def frame(version: int, stream: int, opcode: int, body: bytes) -> bytes:
    return HEADER.pack(0x80 | version, 0, stream, opcode, len(body)) + body


class Reader:
    """Reads protocol primitives; any overrun is a protocol error, never a crash."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def _take(self, count: int) -> bytes:
        if count < 0 or self.offset + count > len(self.data):
            raise ProtocolError("truncated message body")
        chunk = self.data[self.offset : self.offset + count]
        self.offset += count
        return chunk

    def byte(self) -> int:
        return self._take(1)[0]

    def short(self) -> int:
        value: int = struct.unpack(">H", self._take(2))[0]
        return value

    def int32(self) -> int:
        value: int = struct.unpack(">i", self._take(4))[0]
        return value

    def long(self) -> int:
        value: int = struct.unpack(">q", self._take(8))[0]
        return value

    def string(self) -> str:
        return self._decode(self._take(self.short()))

    def long_string(self) -> str:
        return self._decode(self._take(self.int32()))

    @staticmethod
    def _decode(raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"invalid UTF-8 in string: {exc}") from exc

    def bytes_or_null(self) -> bytes | None:
        length = self.int32()
        return None if length < 0 else self._take(length)

    def value(self) -> bytes | Any | None:
        length = self.int32()
        if length == -2:
            return UNSET
        return None if length < 0 else self._take(length)

    def short_bytes(self) -> bytes:
        return self._take(self.short())

    def string_map(self) -> dict[str, str]:
        return {self.string(): self.string() for _ in range(self.short())}

    def string_list(self) -> list[str]:
        return [self.string() for _ in range(self.short())]

    def bytes_map(self) -> dict[str, bytes | None]:
        return {self.string(): self.bytes_or_null() for _ in range(self.short())}

    def done(self) -> None:
        if self.offset != len(self.data):
            raise ProtocolError(
                f"{len(self.data) - self.offset} unexpected trailing bytes in message"
            )


@dataclass
class QueryParameters:
    consistency: int
    values: list[bytes | Any | None]
    names: list[str] | None
    skip_metadata: bool
    page_size: int | None
    paging_state: bytes | None
    timestamp: int | None


def read_query_parameters(reader: Reader) -> QueryParameters:
    consistency = reader.short()
    flags = reader.byte()
    values: list[bytes | Any | None] = []
    names: list[str] | None = None
    if flags & VALUES:
        count = reader.short()
        if flags & VALUE_NAMES:
            names = []
            for _ in range(count):
                names.append(reader.string())
                values.append(reader.value())
        else:
            values = [reader.value() for _ in range(count)]
    page_size = reader.int32() if flags & PAGE_SIZE else None
    paging_state = reader.bytes_or_null() if flags & PAGING_STATE else None
    if flags & SERIAL_CONSISTENCY:
        reader.short()
    timestamp = reader.long() if flags & DEFAULT_TIMESTAMP else None
    return QueryParameters(
        consistency, values, names, bool(flags & SKIP_METADATA), page_size, paging_state, timestamp
    )


# -- writers ---------------------------------------------------------------------------------


def short(value: int) -> bytes:
    return struct.pack(">H", value)


def int32(value: int) -> bytes:
    return struct.pack(">i", value)


def string(value: str) -> bytes:
    raw = value.encode("utf-8")
    return short(len(raw)) + raw


def long_string(value: str) -> bytes:
    raw = value.encode("utf-8")
    return int32(len(raw)) + raw


def bytes_value(value: bytes | None) -> bytes:
    return int32(-1) if value is None else int32(len(value)) + value


def short_bytes(value: bytes) -> bytes:
    return short(len(value)) + value


def string_multimap(values: dict[str, list[str]]) -> bytes:
    body = short(len(values))
    for key, items in values.items():
        body += string(key) + short(len(items)) + b"".join(string(item) for item in items)
    return body


def error_body(error: CqlError) -> bytes:
    body = int32(error.code) + string(error.message)
    if isinstance(error, AlreadyExists):
        body += string(error.keyspace) + string(error.table)
    elif isinstance(error, Unprepared):
        body += short_bytes(error.statement_id)
    return body


def column_specs(columns: list[ColumnSpec]) -> bytes:
    return b"".join(
        string(c.keyspace) + string(c.table) + string(c.name) + c.type.option() for c in columns
    )


def rows_metadata(columns: list[ColumnSpec], paging_state: bytes | None, skip: bool) -> bytes:
    flags = (HAS_MORE_PAGES if paging_state is not None else 0) | (NO_METADATA if skip else 0)
    body = int32(flags) + int32(len(columns))
    if paging_state is not None:
        body += bytes_value(paging_state)
    if not skip:
        body += column_specs(columns)
    return body


def rows_result(page: Page, skip_metadata: bool) -> bytes:
    parts = [int32(0x0002), rows_metadata(page.columns, page.paging_state, skip_metadata)]
    parts.append(int32(len(page.rows)))
    for row in page.rows:
        parts.extend(bytes_value(cell) for cell in row)
    return b"".join(parts)


def prepared_result(
    statement_id: bytes,
    specs: list[ColumnSpec],
    pk_indexes: list[int],
    result_columns: list[ColumnSpec],
    version: int,
) -> bytes:
    body = int32(0x0004) + short_bytes(statement_id)
    body += int32(0) + int32(len(specs))
    if version >= 4:
        body += int32(len(pk_indexes)) + b"".join(short(i) for i in pk_indexes)
    body += column_specs(specs)
    if result_columns:
        body += int32(0) + int32(len(result_columns)) + column_specs(result_columns)
    else:
        body += int32(NO_METADATA) + int32(0)
    return body


def schema_change(change: str, target: str, keyspace: str, name: str) -> bytes:
    body = string(change) + string(target) + string(keyspace)
    if target != "KEYSPACE":
        body += string(name)
    return body
