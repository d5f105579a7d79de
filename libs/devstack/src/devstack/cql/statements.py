"""The parsed form of the CQL subset the server executes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from devstack.cql.types import CqlType


@dataclass(frozen=True)
class TableName:
    keyspace: str | None
    name: str


# -- terms ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    kind: str  # string, integer, float, boolean, null, uuid, blob
    value: Any


@dataclass(frozen=True)
class Collection:
    kind: str  # list, set, map
    items: tuple[Any, ...]  # terms, or (key term, value term) pairs for maps


@dataclass(frozen=True)
class BindMarker:
    index: int
    name: str | None = None


@dataclass(frozen=True)
class FunctionCall:
    name: str
    args: tuple[Any, ...]


Term = Literal | Collection | BindMarker | FunctionCall


# -- clauses ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Relation:
    column: str
    operator: str  # = < <= > >= IN CONTAINS
    value: Term | tuple[Term, ...]  # a tuple for IN (...)


@dataclass(frozen=True)
class Condition:
    column: str
    operator: str
    value: Term


@dataclass(frozen=True)
class Assignment:
    column: str
    operation: str  # set, add, prepend, remove, set_key
    value: Term
    key: Term | None = None


@dataclass(frozen=True)
class Selector:
    kind: str  # column, ttl, writetime, count
    column: str | None = None
    alias: str | None = None


# -- statements -------------------------------------------------------------------------------


@dataclass
class CreateKeyspace:
    name: str
    if_not_exists: bool
    replication: dict[str, str]
    durable_writes: bool = True


@dataclass
class ColumnDef:
    name: str
    type: CqlType
    static: bool = False


@dataclass
class CreateTable:
    table: TableName
    if_not_exists: bool
    columns: list[ColumnDef]
    partition_key: list[str]
    clustering: list[str]
    clustering_order: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Drop:
    kind: str  # keyspace, table
    name: TableName
    if_exists: bool


@dataclass
class Truncate:
    table: TableName


@dataclass
class Use:
    keyspace: str


@dataclass
class Insert:
    table: TableName
    columns: list[str]
    values: list[Term]
    if_not_exists: bool = False
    ttl: Term | None = None
    timestamp: Term | None = None


@dataclass
class Update:
    table: TableName
    assignments: list[Assignment]
    where: list[Relation]
    if_exists: bool = False
    conditions: list[Condition] = field(default_factory=list)
    ttl: Term | None = None
    timestamp: Term | None = None


@dataclass
class Delete:
    table: TableName
    columns: list[str]
    where: list[Relation]
    if_exists: bool = False
    conditions: list[Condition] = field(default_factory=list)
    timestamp: Term | None = None


@dataclass
class Select:
    table: TableName
    selectors: list[Selector]  # empty means *
    where: list[Relation]
    order_by: list[tuple[str, str]] = field(default_factory=list)
    limit: Term | None = None
    per_partition_limit: Term | None = None
    allow_filtering: bool = False
    distinct: bool = False


@dataclass
class Batch:
    kind: str  # logged, unlogged, counter
    statements: list[Insert | Update | Delete]
    timestamp: Term | None = None


Statement = (
    CreateKeyspace | CreateTable | Drop | Truncate | Use | Insert | Update | Delete | Select | Batch
)
