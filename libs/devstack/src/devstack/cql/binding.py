"""Bind markers: what each one receives (its column spec) and turning terms into cell bytes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from devstack.cql.errors import InvalidRequest
from devstack.cql.statements import (
    BindMarker,
    Collection,
    Delete,
    FunctionCall,
    Insert,
    Literal,
    Select,
    Statement,
    Term,
    Update,
)
from devstack.cql.storage import TableSchema
from devstack.cql.types import CqlType, coerce_literal


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
"""A bound value the client left unset (protocol v4): the column is not written."""

INT = CqlType("int")
BIGINT = CqlType("bigint")


@dataclass(frozen=True)
class ColumnSpec:
    keyspace: str
    table: str
    name: str
    type: CqlType


@dataclass
class Bindings:
    specs: list[ColumnSpec]
    values: list[bytes | Any | None]

    @classmethod
    def none(cls) -> Bindings:
        return cls([], [])

    def value(self, marker: BindMarker) -> bytes | Any | None:
        return self.values[marker.index]


def _receivers(
    statement: Statement, schema: TableSchema | None
) -> Iterator[tuple[Term, str, CqlType]]:
    """(term, name, receiving type) for every term position that can hold a bind marker."""

    def column(name: str) -> CqlType:
        if schema is None or name not in schema.columns:
            raise InvalidRequest(f"Undefined column name {name}")
        return schema.columns[name].type

    if isinstance(statement, Insert):
        for name, value in zip(statement.columns, statement.values, strict=True):
            yield value, name, column(name)
    if isinstance(statement, Update):
        for assignment in statement.assignments:
            target = column(assignment.column)
            if assignment.operation == "set_key":
                key_type = target.params[0] if target.name == "map" else INT
                value_type = target.params[-1]
                assert assignment.key is not None
                yield assignment.key, f"key({assignment.column})", key_type
                yield assignment.value, f"value({assignment.column})", value_type
            elif assignment.operation == "remove" and target.name == "map":
                yield assignment.value, assignment.column, CqlType("set", (target.params[0],))
            else:
                yield assignment.value, assignment.column, target
    if isinstance(statement, Update | Delete):
        for condition in statement.conditions:
            yield condition.value, condition.column, column(condition.column)
    if isinstance(statement, Update | Delete | Select):
        for relation in statement.where:
            receiver = column(relation.column)
            if isinstance(relation.value, tuple):
                for item in relation.value:
                    yield item, relation.column, receiver
            elif relation.operator == "IN":
                yield relation.value, f"in({relation.column})", CqlType("list", (receiver,))
            else:
                yield relation.value, relation.column, receiver
    if isinstance(statement, Insert | Update) and statement.ttl is not None:
        yield statement.ttl, "[ttl]", INT
    if isinstance(statement, Insert | Update | Delete) and statement.timestamp is not None:
        yield statement.timestamp, "[timestamp]", BIGINT
    if isinstance(statement, Select):
        if statement.limit is not None:
            yield statement.limit, "[limit]", INT
        if statement.per_partition_limit is not None:
            yield statement.per_partition_limit, "[per_partition_limit]", INT


def _markers(term: Term, receiver: CqlType, name: str) -> Iterator[tuple[BindMarker, str, CqlType]]:
    if isinstance(term, BindMarker):
        yield term, term.name or name, receiver
    elif isinstance(term, Collection):
        if receiver.name == "map" and term.kind == "map":
            for key, value in term.items:
                yield from _markers(key, receiver.params[0], name)
                yield from _markers(value, receiver.params[1], name)
        elif receiver.params:
            for item in term.items:
                yield from _markers(item, receiver.params[0], name)


def bind_specs(statement: Statement, schema: TableSchema | None) -> list[ColumnSpec]:
    """The spec of every bind marker, in marker order."""
    found: dict[int, ColumnSpec] = {}
    keyspace = schema.keyspace if schema else ""
    table = schema.name if schema else ""
    for term, name, receiver in _receivers(statement, schema):
        for marker, marker_name, marker_type in _markers(term, receiver, name):
            found[marker.index] = ColumnSpec(keyspace, table, marker_name, marker_type)
    if sorted(found) != list(range(len(found))):
        raise InvalidRequest("bind markers are only supported where a value is expected")
    return [found[index] for index in range(len(found))]


def evaluate(term: Term, receiver: CqlType, bindings: Bindings) -> bytes | Any | None:
    """A term as the serialized value ``receiver`` stores (``None`` for null, or UNSET)."""
    if isinstance(term, BindMarker):
        raw = bindings.value(term)
        if raw is None or raw is UNSET:
            return raw
        return receiver.validate(raw)
    value = to_python(term, receiver, bindings)
    return None if value is None else receiver.encode(value)


def to_python(term: Term, receiver: CqlType, bindings: Bindings) -> Any:
    if isinstance(term, BindMarker):
        raw = bindings.value(term)
        if raw is UNSET:
            raise InvalidRequest("unset values are not allowed inside collections")
        return None if raw is None else receiver.decode(raw)
    if isinstance(term, Literal):
        return coerce_literal(receiver, term.kind, term.value)
    if isinstance(term, Collection):
        return _collection(term, receiver, bindings)
    if isinstance(term, FunctionCall):
        return _function(term, receiver)
    raise InvalidRequest(f"unsupported term {term!r}")


def _collection(term: Collection, receiver: CqlType, bindings: Bindings) -> Any:
    if receiver.name == "map":
        if term.kind != "map":
            raise InvalidRequest(f"Invalid {term.kind} literal for a map column")
        key_type, value_type = receiver.params
        return {
            to_python(k, key_type, bindings): to_python(v, value_type, bindings)
            for k, v in term.items
        }
    if receiver.name == "set":
        if term.kind == "map" and not term.items:
            return set()
        if term.kind != "set":
            raise InvalidRequest(f"Invalid {term.kind} literal for a set column")
        return {to_python(item, receiver.params[0], bindings) for item in term.items}
    if receiver.name == "list":
        if term.kind != "list":
            raise InvalidRequest(f"Invalid {term.kind} literal for a list column")
        return [to_python(item, receiver.params[0], bindings) for item in term.items]
    raise InvalidRequest(f"Invalid collection literal for a {receiver} column")


def _function(call: FunctionCall, receiver: CqlType) -> Any:
    name = call.name
    if name == "now" and not call.args:
        return uuid.uuid1()
    if name == "uuid" and not call.args:
        return uuid.uuid4()
    if name in ("currenttimestamp",) or (
        name == "totimestamp" and len(call.args) == 1 and isinstance(call.args[0], FunctionCall)
    ):
        return datetime.now(UTC).replace(tzinfo=None)
    if name == "currenttimeuuid":
        return uuid.uuid1()
    raise InvalidRequest(f"Unknown function {name}({', '.join('...' for _ in call.args)})")


def evaluate_int(term: Term | None, bindings: Bindings, what: str) -> int | None:
    if term is None:
        return None
    raw = evaluate(term, INT if what != "timestamp" else BIGINT, bindings)
    if raw is None or raw is UNSET:
        return None
    value: int = (INT if what != "timestamp" else BIGINT).decode(raw)
    if value < 0:
        raise InvalidRequest(f"A {what} must be greater or equal to 0, but was {value}")
    return value


def evaluate_timestamp(term: Term | None, bindings: Bindings) -> int | None:
    """``USING TIMESTAMP``: microseconds, any sign; ``None`` when absent or unset."""
    if term is None:
        return None
    raw = evaluate(term, BIGINT, bindings)
    if raw is None or raw is UNSET:
        return None
    value: int = BIGINT.decode(raw)
    return value
