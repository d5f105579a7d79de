"""SELECT: which partitions and rows a query reads, in Cassandra's order, with paging."""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from devstack.cql.binding import BIGINT, UNSET, Bindings, ColumnSpec, evaluate, evaluate_int
from devstack.cql.errors import InvalidRequest, ProtocolError
from devstack.cql.statements import Relation, Select, Selector
from devstack.cql.storage import Key, Partition, Row, Table, TableSchema, partition_token
from devstack.cql.types import CqlType, Descending

FILTERING_MESSAGE = (
    "Cannot execute this query as it might involve data filtering and thus may have "
    "unpredictable performance. If you want to execute this query despite the performance "
    "unpredictability, use ALLOW FILTERING"
)
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


@dataclass
class Page:
    columns: list[ColumnSpec]
    rows: list[list[bytes | None]]
    paging_state: bytes | None = None


@dataclass
class _Plan:
    partitions: list[Key] | None  # None: every partition, in token order
    clustering_filters: list[tuple[int, str, Any]] = field(default_factory=list)
    regular_filters: list[tuple[str, str, Any]] = field(default_factory=list)
    reverse: bool = False
    exact_rows: list[Key] | None = None
    """Every clustering column fixed by = or IN: look rows up instead of scanning."""


def result_columns(statement: Select, schema: TableSchema) -> list[ColumnSpec]:
    def spec(name: str, cql_type: CqlType) -> ColumnSpec:
        return ColumnSpec(schema.keyspace, schema.name, name, cql_type)

    if not statement.selectors:
        return [spec(name, column.type) for name, column in schema.columns.items()]
    columns = []
    for selector in statement.selectors:
        if selector.kind == "count":
            columns.append(spec(selector.alias or "count", BIGINT))
            continue
        assert selector.column is not None
        if selector.column not in schema.columns:
            raise InvalidRequest(f"Undefined column name {selector.column}")
        column = schema.columns[selector.column]
        if selector.kind == "column":
            columns.append(spec(selector.alias or selector.column, column.type))
        elif column.kind != "regular":
            raise InvalidRequest(
                f"Cannot use selection function {selector.kind} on PRIMARY KEY part {column.name}"
            )
        else:
            columns.append(
                spec(selector.alias or "", CqlType("int" if selector.kind == "ttl" else "bigint"))
            )
    return columns


def _values(relation: Relation, cql_type: CqlType, bindings: Bindings) -> list[bytes]:
    if isinstance(relation.value, tuple):
        raw_values = [evaluate(term, cql_type, bindings) for term in relation.value]
    elif relation.operator == "IN":
        raw = evaluate(relation.value, CqlType("list", (cql_type,)), bindings)
        raw_values = (
            []
            if raw is None
            else [cql_type.encode(item) for item in CqlType("list", (cql_type,)).decode(raw) or []]
        )
    else:
        raw_values = [evaluate(relation.value, cql_type, bindings)]
    checked: list[bytes] = []
    for raw in raw_values:
        if raw is None or raw is UNSET:
            raise InvalidRequest(f"Invalid null or unset value for column {relation.column}")
        checked.append(raw)
    return checked


def plan(statement: Select, schema: TableSchema, bindings: Bindings) -> _Plan:
    by_column: dict[str, list[Relation]] = {}
    for relation in statement.where:
        if relation.column not in schema.columns:
            raise InvalidRequest(f"Undefined column name {relation.column}")
        by_column.setdefault(relation.column, []).append(relation)

    restricted_pk = [name for name in schema.partition_key if name in by_column]
    partitions: list[Key] | None = None
    if restricted_pk:
        if len(restricted_pk) != len(schema.partition_key):
            missing = [n for n in schema.partition_key if n not in by_column]
            raise InvalidRequest(
                f"Cannot execute this query as it might involve data filtering: partition key "
                f"parts {', '.join(missing)} must be restricted as other parts are"
            )
        choices = []
        for name in schema.partition_key:
            relations = by_column[name]
            if len(relations) != 1 or relations[0].operator not in ("=", "IN"):
                raise InvalidRequest(
                    f"Only EQ and IN relation are supported on the partition key (column {name})"
                )
            choices.append(_values(relations[0], schema.columns[name].type, bindings))
        unique = {tuple(combo): None for combo in itertools.product(*choices)}
        partitions = sorted(unique, key=lambda key: (partition_token(key), key))

    result = _Plan(partitions)
    exact_values: list[list[bytes]] = []
    previous_restricted = True
    for position, name in enumerate(schema.clustering):
        relations = by_column.get(name, [])
        column = schema.columns[name]
        if relations and not previous_restricted and not statement.allow_filtering:
            raise InvalidRequest(
                f'PRIMARY KEY column "{name}" cannot be restricted as preceding column '
                f'"{schema.clustering[position - 1]}" is not restricted'
            )
        equal = False
        for relation in relations:
            values = _values(relation, column.type, bindings)
            if relation.operator == "IN":
                keys = {column.type.sort_key(v) for v in values}
                result.clustering_filters.append((position, "IN", keys))
                equal = True
            else:
                key = column.type.sort_key(values[0])
                result.clustering_filters.append((position, relation.operator, key))
                equal = equal or relation.operator == "="
            if relation.operator in ("=", "IN") and len(relations) == 1:
                exact_values.append(values)
        previous_restricted = equal
    if len(exact_values) == len(schema.clustering):
        result.exact_rows = [tuple(key) for key in itertools.product(*exact_values)]

    for name, relations in by_column.items():
        column = schema.columns[name]
        if column.kind != "regular":
            continue
        if not statement.allow_filtering:
            raise InvalidRequest(FILTERING_MESSAGE)
        for relation in relations:
            values = _values(relation, column.type, bindings)
            if relation.operator == "IN":
                result.regular_filters.append(
                    (name, "IN", {column.type.sort_key(v) for v in values})
                )
            else:
                result.regular_filters.append(
                    (name, relation.operator, column.type.sort_key(values[0]))
                )

    if statement.order_by:
        if partitions is None:
            raise InvalidRequest(
                "ORDER BY is only supported when the partition key is restricted by an EQ or an IN."
            )
        first, direction = statement.order_by[0]
        if first not in schema.clustering:
            raise InvalidRequest(
                "Order by is currently only supported on the clustered columns "
                f"of the PRIMARY KEY, got {first}"
            )
        result.reverse = direction != schema.columns[first].order
        for name, direction in statement.order_by:
            if name not in schema.clustering:
                raise InvalidRequest(f"Order by on unknown column {name}")
            if (direction != schema.columns[name].order) != result.reverse:
                raise InvalidRequest("Unsupported order by relation")
    return result


def _matches(plan_: _Plan, schema: TableSchema, row: Row, now: float) -> bool:
    for position, operator, expected in plan_.clustering_filters:
        name = schema.clustering[position]
        actual = schema.columns[name].type.sort_key(row.clustering[position])
        if operator == "IN":
            if actual not in expected:
                return False
        elif not COMPARISONS[operator](actual, expected):
            return False
    for name, operator, expected in plan_.regular_filters:
        cell = row.cells.get(name)
        if cell is None or not cell.live(now):
            return False
        assert cell.value is not None
        actual = schema.columns[name].type.sort_key(cell.value)
        if operator == "IN":
            if actual not in expected:
                return False
        elif not COMPARISONS[operator](actual, expected):
            return False
    return True


def _position(
    schema: TableSchema, partition: Key, clustering: Key, reverse: bool
) -> tuple[Any, ...]:
    within = schema.clustering_sort_key(clustering)
    return ((partition_token(partition), partition), Descending(within) if reverse else within)


def _candidates(partition: Partition, plan_: _Plan) -> Iterator[Row]:
    if plan_.exact_rows is None:
        yield from partition.iter_rows(plan_.reverse)
        return
    found = [row for key in set(plan_.exact_rows) if (row := partition.rows.get(key)) is not None]
    sort_key = partition.schema.clustering_sort_key
    yield from sorted(found, key=lambda row: sort_key(row.clustering), reverse=plan_.reverse)


def iter_rows(
    table: Table, plan_: _Plan, now: float, per_partition_limit: int | None
) -> Iterator[tuple[Partition, Row]]:
    keys = plan_.partitions if plan_.partitions is not None else table.partitions_in_token_order()
    for key in keys:
        partition = table.partitions.get(key)
        if partition is None:
            continue
        emitted = 0
        for row in _candidates(partition, plan_):
            if per_partition_limit is not None and emitted >= per_partition_limit:
                break
            if row.is_live(now) and _matches(plan_, table.schema, row, now):
                emitted += 1
                yield partition, row


def _cell_output(
    selector: Selector | None,
    name: str,
    schema: TableSchema,
    partition: Partition,
    row: Row,
    now: float,
) -> bytes | None:
    column = schema.columns[name]
    if column.kind == "partition_key":
        return partition.key[column.position]
    if column.kind == "clustering":
        return row.clustering[column.position]
    cell = row.cells.get(name)
    if cell is None or not cell.live(now):
        return None
    if selector is None or selector.kind == "column":
        return cell.value
    if selector.kind == "ttl":
        if cell.expires_at is None:
            return None
        return struct.pack(">i", max(0, round(cell.expires_at - now)))
    return struct.pack(">q", cell.timestamp)


def _encode_state(returned: int, partition: Key, clustering: Key) -> bytes:
    parts = [struct.pack(">iHH", returned, len(partition), len(clustering))]
    for component in (*partition, *clustering):
        parts.append(struct.pack(">i", len(component)) + component)
    return b"".join(parts)


def _decode_state(state: bytes) -> tuple[int, Key, Key]:
    try:
        returned, pk_count, ck_count = struct.unpack_from(">iHH", state)
        offset = 8
        components = []
        for _ in range(pk_count + ck_count):
            (length,) = struct.unpack_from(">i", state, offset)
            offset += 4
            components.append(state[offset : offset + length])
            offset += length
        if offset != len(state):
            raise ValueError("trailing bytes")
    except (struct.error, ValueError) as exc:
        raise ProtocolError(f"Invalid value for the paging state: {exc}") from exc
    return returned, tuple(components[:pk_count]), tuple(components[pk_count:])


def select(
    table: Table,
    statement: Select,
    bindings: Bindings,
    now: float,
    page_size: int | None,
    paging_state: bytes | None,
) -> Page:
    schema = table.schema
    columns = result_columns(statement, schema)
    plan_ = plan(statement, schema, bindings)
    limit = evaluate_int(statement.limit, bindings, "limit")
    per_partition = evaluate_int(statement.per_partition_limit, bindings, "per partition limit")
    if limit == 0 or per_partition == 0:
        raise InvalidRequest("LIMIT must be strictly positive")
    rows = iter_rows(table, plan_, now, per_partition)

    if any(s.kind == "count" for s in statement.selectors):
        count = sum(1 for _ in itertools.islice(rows, limit))
        return Page(columns, [[struct.pack(">q", count) for _ in columns]])

    returned_before = 0
    if paging_state:
        returned_before, saved_partition, saved_clustering = _decode_state(paging_state)
        saved = _position(schema, saved_partition, saved_clustering, plan_.reverse)
        rows = itertools.dropwhile(
            lambda pair: _position(schema, pair[0].key, pair[1].clustering, plan_.reverse) <= saved,
            rows,
        )
    remaining = None if limit is None else max(0, limit - returned_before)
    outputs: list[tuple[Selector | None, str]] = (
        [(s, str(s.column)) for s in statement.selectors]
        if statement.selectors
        else [(None, name) for name in schema.columns]
    )
    output: list[list[bytes | None]] = []
    last: tuple[Partition, Row] | None = None
    for partition, row in rows:
        if remaining is not None and len(output) >= remaining:
            break
        if page_size is not None and page_size > 0 and len(output) >= page_size:
            assert last is not None
            state = _encode_state(returned_before + len(output), last[0].key, last[1].clustering)
            return Page(columns, output, state)
        output.append([_cell_output(s, n, schema, partition, row, now) for s, n in outputs])
        last = (partition, row)
    return Page(columns, output)
