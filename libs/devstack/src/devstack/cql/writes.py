"""INSERT, UPDATE, DELETE and their lightweight-transaction forms, on one table."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from devstack.cql.binding import (
    BIGINT,
    UNSET,
    Bindings,
    ColumnSpec,
    evaluate,
    evaluate_int,
    evaluate_timestamp,
)
from devstack.cql.errors import InvalidRequest
from devstack.cql.reads import COMPARISONS, Page
from devstack.cql.statements import Assignment, Condition, Delete, Insert, Relation, Update
from devstack.cql.storage import Key, Row, Table, TableSchema
from devstack.cql.types import CqlType

MAX_TTL = 20 * 365 * 24 * 3600
BOOLEAN = CqlType("boolean")


@dataclass
class WriteContext:
    table: Table
    bindings: Bindings
    timestamp: int
    now: float

    @property
    def schema(self) -> TableSchema:
        return self.table.schema


def _key_values(
    schema: TableSchema, names: list[str], where: dict[str, Relation], ctx: WriteContext
) -> list[list[bytes]]:
    result = []
    for name in names:
        relation = where[name]
        cql_type = schema.columns[name].type
        if relation.operator == "=":
            assert not isinstance(relation.value, tuple)
            values = [evaluate(relation.value, cql_type, ctx.bindings)]
        elif relation.operator == "IN" and isinstance(relation.value, tuple):
            values = [evaluate(term, cql_type, ctx.bindings) for term in relation.value]
        elif relation.operator == "IN":
            assert not isinstance(relation.value, tuple)
            raw = evaluate(relation.value, CqlType("list", (cql_type,)), ctx.bindings)
            items = CqlType("list", (cql_type,)).decode(raw) if raw not in (None, UNSET) else []
            values = [cql_type.encode(item) for item in items or []]
        else:
            raise InvalidRequest(
                f"Invalid operator {relation.operator} for PRIMARY KEY part {name}"
            )
        checked: list[bytes] = []
        for value in values:
            if value is None or value is UNSET:
                raise InvalidRequest(f"Invalid null value for PRIMARY KEY part {name}")
            checked.append(value)
        result.append(checked)
    return result


def _where(schema: TableSchema, relations: list[Relation]) -> dict[str, Relation]:
    where: dict[str, Relation] = {}
    for relation in relations:
        column = schema.columns.get(relation.column)
        if column is None:
            raise InvalidRequest(f"Undefined column name {relation.column}")
        if column.kind == "regular":
            raise InvalidRequest(
                f"Non PRIMARY KEY columns found in where clause: {relation.column}"
            )
        if relation.column in where:
            raise InvalidRequest(
                f"{relation.column} cannot be restricted by more than one relation"
            )
        where[relation.column] = relation
    missing = [name for name in schema.partition_key if name not in where]
    if missing:
        raise InvalidRequest(f"Some partition key parts are missing: {', '.join(missing)}")
    return where


def _rows(
    schema: TableSchema, relations: list[Relation], ctx: WriteContext
) -> list[tuple[Key, Key]]:
    where = _where(schema, relations)
    missing = [name for name in schema.clustering if name not in where]
    if missing:
        raise InvalidRequest(f"Some clustering keys are missing: {', '.join(missing)}")
    partitions = itertools.product(*_key_values(schema, schema.partition_key, where, ctx))
    clusterings = list(itertools.product(*_key_values(schema, schema.clustering, where, ctx)))
    return [(tuple(p), tuple(c)) for p in partitions for c in clusterings]


def _ttl(term: Any, ctx: WriteContext) -> int | None:
    ttl = evaluate_int(term, ctx.bindings, "TTL")
    if ttl is None:
        ttl = ctx.schema.default_ttl
    if ttl > MAX_TTL:
        raise InvalidRequest(f"ttl is too large. requested ({ttl}) maximum ({MAX_TTL})")
    return ttl or None


def _timestamp(term: Any, ctx: WriteContext) -> int:
    explicit = evaluate_timestamp(term, ctx.bindings)
    return ctx.timestamp if explicit is None else explicit


def _current_row(table: Table, partition: Key, clustering: Key, now: float) -> Row | None:
    found = table.partition(partition)
    row = found.rows.get(clustering) if found else None
    return row if row is not None and row.is_live(now) else None


def _lwt_result(
    schema: TableSchema, applied: bool, existing: list[tuple[str, bytes | None]]
) -> Page:
    columns = [ColumnSpec(schema.keyspace, schema.name, "[applied]", BOOLEAN)]
    row: list[bytes | None] = [BOOLEAN.encode(applied)]
    for name, value in existing:
        columns.append(ColumnSpec(schema.keyspace, schema.name, name, schema.columns[name].type))
        row.append(value)
    return Page(columns, [row])


def _whole_row(
    schema: TableSchema, partition: Key, row: Row, now: float
) -> list[tuple[str, bytes | None]]:
    values: list[tuple[str, bytes | None]] = []
    for name, column in schema.columns.items():
        if column.kind == "partition_key":
            values.append((name, partition[column.position]))
        elif column.kind == "clustering":
            values.append((name, row.clustering[column.position]))
        else:
            cell = row.cells.get(name)
            values.append((name, cell.value if cell is not None and cell.live(now) else None))
    return values


def _single(targets: list[tuple[Key, Key]]) -> tuple[Key, Key]:
    if len(targets) != 1:
        raise InvalidRequest(
            "IN on the clustering key columns is not supported with conditional updates"
        )
    return targets[0]


def insert(ctx: WriteContext, statement: Insert) -> Page | None:
    schema = ctx.schema
    if schema.is_counter_table:
        raise InvalidRequest(
            "INSERT statements are not allowed on counter tables, use UPDATE instead"
        )
    values: dict[str, bytes | None] = {}
    for name, term in zip(statement.columns, statement.values, strict=True):
        if name not in schema.columns:
            raise InvalidRequest(f"Undefined column name {name}")
        if name in values:
            raise InvalidRequest(f"Multiple definitions found for column {name}")
        value = evaluate(term, schema.columns[name].type, ctx.bindings)
        if value is UNSET:
            continue
        values[name] = value
    key_parts: list[bytes] = []
    for name in [*schema.partition_key, *schema.clustering]:
        value = values.pop(name, None)
        if value is None:
            part = "partition key" if name in schema.partition_key else "clustering key"
            raise InvalidRequest(f"Missing or null {part} part {name}")
        key_parts.append(value)
    partition = tuple(key_parts[: len(schema.partition_key)])
    clustering = tuple(key_parts[len(schema.partition_key) :])
    ttl = _ttl(statement.ttl, ctx)
    timestamp = _timestamp(statement.timestamp, ctx)
    if statement.if_not_exists:
        existing = _current_row(ctx.table, partition, clustering, ctx.now)
        if existing is not None:
            return _lwt_result(schema, False, _whole_row(schema, partition, existing, ctx.now))
    ctx.table.write(
        partition, clustering, values, timestamp=timestamp, ttl=ttl, now=ctx.now, marker=True
    )
    return _lwt_result(schema, True, []) if statement.if_not_exists else None


def _conditions_hold(
    ctx: WriteContext, conditions: list[Condition], row: Row | None
) -> tuple[bool, list[tuple[str, bytes | None]]]:
    schema = ctx.schema
    holds = True
    seen: list[tuple[str, bytes | None]] = []
    for condition in conditions:
        column = schema.columns.get(condition.column)
        if column is None:
            raise InvalidRequest(f"Undefined column name {condition.column}")
        if column.kind != "regular":
            raise InvalidRequest(
                f"PRIMARY KEY column '{condition.column}' cannot have IF conditions"
            )
        expected = evaluate(condition.value, column.type, ctx.bindings)
        cell = row.cells.get(condition.column) if row is not None else None
        actual = cell.value if cell is not None and cell.live(ctx.now) else None
        seen.append((condition.column, actual))
        if expected is None or actual is None:
            ok = (condition.operator == "=" and expected is actual) or (
                condition.operator == "!=" and (expected is None) != (actual is None)
            )
        else:
            ok = COMPARISONS[condition.operator](
                column.type.sort_key(actual), column.type.sort_key(expected)
            )
        holds = holds and ok
    return holds, seen


def _refused(
    ctx: WriteContext, statement: Update | Delete, partition: Key, clustering: Key
) -> Page | None:
    """The ``[applied] = false`` answer when an IF clause does not hold, else ``None``."""
    row = _current_row(ctx.table, partition, clustering, ctx.now)
    if statement.if_exists:
        return _lwt_result(ctx.schema, False, []) if row is None else None
    holds, seen = _conditions_hold(ctx, statement.conditions, row)
    return None if holds else _lwt_result(ctx.schema, False, seen)


def update(ctx: WriteContext, statement: Update) -> Page | None:
    schema = ctx.schema
    targets = _rows(schema, statement.where, ctx)
    ttl = _ttl(statement.ttl, ctx)
    timestamp = _timestamp(statement.timestamp, ctx)
    if statement.if_exists or statement.conditions:
        refused = _refused(ctx, statement, *_single(targets))
        if refused is not None:
            return refused
    for partition, clustering in targets:
        _apply_assignments(ctx, statement.assignments, partition, clustering, timestamp, ttl)
    return _lwt_result(schema, True, []) if statement.if_exists or statement.conditions else None


def _apply_assignments(
    ctx: WriteContext,
    assignments: list[Assignment],
    partition: Key,
    clustering: Key,
    timestamp: int,
    ttl: int | None,
) -> None:
    schema = ctx.schema
    cells: dict[str, bytes | None] = {}
    for assignment in assignments:
        column = schema.columns.get(assignment.column)
        if column is None:
            raise InvalidRequest(f"Undefined column name {assignment.column}")
        if column.kind != "regular":
            raise InvalidRequest(f"PRIMARY KEY part {assignment.column} found in SET part")
        cql_type = column.type
        if cql_type.is_counter:
            if assignment.operation not in ("add", "remove"):
                raise InvalidRequest(
                    f"Cannot set the value of counter column {column.name} "
                    "(counters can only be incremented/decremented, not set)"
                )
            raw = evaluate(assignment.value, BIGINT, ctx.bindings)
            if raw is None or raw is UNSET:
                raise InvalidRequest(f"Invalid null value for counter increment on {column.name}")
            delta = BIGINT.decode(raw)
            ctx.table.add_counter(
                partition,
                clustering,
                column.name,
                delta if assignment.operation == "add" else -delta,
                timestamp,
            )
            continue
        if schema.is_counter_table:
            raise InvalidRequest("Cannot mix counter and non counter columns in the same table")
        if assignment.operation == "set":
            value = evaluate(assignment.value, cql_type, ctx.bindings)
            if value is not UNSET:
                cells[column.name] = value
            continue
        cells[column.name] = _collection_update(ctx, assignment, cql_type, partition, clustering)
    if cells:
        ctx.table.write(
            partition, clustering, cells, timestamp=timestamp, ttl=ttl, now=ctx.now, marker=False
        )


def _collection_update(
    ctx: WriteContext, assignment: Assignment, cql_type: CqlType, partition: Key, clustering: Key
) -> bytes | None:
    if not cql_type.is_collection:
        raise InvalidRequest(
            f"Invalid operation ({assignment.operation}) "
            f"for non collection column {assignment.column}"
        )
    if cql_type.frozen:
        raise InvalidRequest(f"Invalid operation for frozen collection column {assignment.column}")
    row = _current_row(ctx.table, partition, clustering, ctx.now)
    cell = row.cells.get(assignment.column) if row is not None else None
    current = (
        cql_type.decode(cell.value)
        if cell is not None and cell.live(ctx.now) and cell.value
        else None
    )
    operand_type = cql_type
    if assignment.operation == "remove" and cql_type.name == "map":
        operand_type = CqlType("set", (cql_type.params[0],))
    if assignment.operation == "set_key":
        assert assignment.key is not None
        key_type = cql_type.params[0] if cql_type.name == "map" else CqlType("int")
        raw_key = evaluate(assignment.key, key_type, ctx.bindings)
        raw_value = evaluate(assignment.value, cql_type.params[-1], ctx.bindings)
        if raw_key is None or raw_key is UNSET:
            raise InvalidRequest(f"Invalid null key for {assignment.column}")
        key = key_type.decode(raw_key)
        element = None if raw_value is None else cql_type.params[-1].decode(raw_value)
        updated: Any
        if cql_type.name == "map":
            updated = dict(current or {})
            if element is None:
                updated.pop(key, None)
            else:
                updated[key] = element
        elif cql_type.name == "list":
            updated = list(current or [])
            if not 0 <= key < len(updated):
                raise InvalidRequest(f"List index {key} out of bound, list has size {len(updated)}")
            updated[key] = element
        else:
            raise InvalidRequest(f"Invalid operation for set column {assignment.column}")
        return cql_type.encode(updated) if updated else None
    raw = evaluate(assignment.value, operand_type, ctx.bindings)
    operand = operand_type.decode(raw) if raw not in (None, UNSET) else None
    if operand is None:
        return cell.value if cell is not None and cell.live(ctx.now) else None
    if cql_type.name == "list":
        base = list(current or [])
        if assignment.operation == "add":
            result: Any = base + list(operand)
        elif assignment.operation == "prepend":
            result = list(operand) + base
        else:
            result = [item for item in base if item not in list(operand)]
    elif cql_type.name == "set":
        base_set = set(current or ())
        result = (
            base_set | set(operand) if assignment.operation == "add" else base_set - set(operand)
        )
        if assignment.operation == "prepend":
            raise InvalidRequest("Invalid operation (prepend) for a set")
    else:
        base_map = dict(current or {})
        if assignment.operation == "add":
            base_map.update(dict(operand))
        elif assignment.operation == "remove":
            for key in operand:
                base_map.pop(key, None)
        else:
            raise InvalidRequest("Invalid operation (prepend) for a map")
        result = base_map
    return cql_type.encode(result) if result else None


def delete(ctx: WriteContext, statement: Delete) -> Page | None:
    schema = ctx.schema
    timestamp = _timestamp(statement.timestamp, ctx)
    where = _where(schema, statement.where)
    restricted = [name for name in schema.clustering if name in where]
    full_row = len(restricted) == len(schema.clustering)
    if restricted != schema.clustering[: len(restricted)]:
        raise InvalidRequest("clustering columns must be restricted in order")
    if statement.columns and not full_row:
        raise InvalidRequest("Range deletions are not supported for specific columns")
    partitions = [
        tuple(p) for p in itertools.product(*_key_values(schema, schema.partition_key, where, ctx))
    ]
    prefixes = [tuple(c) for c in itertools.product(*_key_values(schema, restricted, where, ctx))]
    if statement.if_exists or statement.conditions:
        if not full_row or len(partitions) * len(prefixes) != 1:
            raise InvalidRequest(
                "DELETE statements must restrict all PRIMARY KEY columns with equality "
                "relations in order to use IF conditions"
            )
        refused = _refused(ctx, statement, partitions[0], prefixes[0])
        if refused is not None:
            return refused
    for partition in partitions:
        if statement.columns:
            for clustering in prefixes:
                for name in statement.columns:
                    if name not in schema.columns or schema.columns[name].kind != "regular":
                        raise InvalidRequest(f"Invalid column {name} to delete")
                tombstones: dict[str, bytes | None] = dict.fromkeys(statement.columns)
                ctx.table.write(
                    partition,
                    clustering,
                    tombstones,
                    timestamp=timestamp,
                    ttl=None,
                    now=ctx.now,
                    marker=False,
                )
        elif not restricted:
            ctx.table.delete_partition(partition, timestamp)
        elif full_row:
            for clustering in prefixes:
                ctx.table.delete_row(partition, clustering, timestamp)
        else:
            found = ctx.table.partition(partition)
            for row in list(found.iter_rows()) if found else []:
                if row.clustering[: len(restricted)] in prefixes:
                    ctx.table.delete_row(partition, row.clustering, timestamp)
    return _lwt_result(schema, True, []) if statement.if_exists or statement.conditions else None
