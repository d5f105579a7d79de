"""Executes statements against the in-memory keyspaces: DDL, DML, SELECT, prepared, batches."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Any

from devstack.cql import reads, writes
from devstack.cql.binding import Bindings, ColumnSpec, bind_specs, evaluate_timestamp
from devstack.cql.errors import AlreadyExists, ConfigurationException, InvalidRequest, Unprepared
from devstack.cql.parser import parse
from devstack.cql.reads import Page
from devstack.cql.statements import (
    Batch,
    CreateKeyspace,
    CreateTable,
    Delete,
    Drop,
    Insert,
    Select,
    Statement,
    TableName,
    Truncate,
    Update,
    Use,
)
from devstack.cql.storage import ColumnSchema, Table, TableSchema
from devstack.cql.system import (
    CQL_VERSION,
    DEFAULT_TABLE_OPTIONS,
    LOCAL_STRATEGY,
    PARTITIONER,
    RELEASE_VERSION,
    STRATEGY_PREFIX,
    SYSTEM_KEYSPACES,
    SYSTEM_TABLES,
)

STRATEGIES = {"SimpleStrategy", "NetworkTopologyStrategy", "LocalStrategy"}


@dataclass
class Void:
    pass


@dataclass
class SetKeyspace:
    keyspace: str


@dataclass
class SchemaChange:
    change: str  # CREATED, UPDATED, DROPPED
    target: str  # KEYSPACE, TABLE
    keyspace: str
    name: str = ""


@dataclass
class Prepared:
    id: bytes
    statement: Statement
    keyspace: str | None
    specs: list[ColumnSpec]
    pk_indexes: list[int]
    result_columns: list[ColumnSpec]


Result = Void | SetKeyspace | SchemaChange | Page | Prepared


@dataclass
class QueryOptions:
    values: list[bytes | Any | None] = field(default_factory=list)
    names: list[str] | None = None
    page_size: int | None = None
    paging_state: bytes | None = None
    timestamp: int | None = None
    skip_metadata: bool = False


@dataclass
class Session:
    """Per-connection state."""

    keyspace: str | None = None


@dataclass
class Keyspace:
    name: str
    replication: dict[str, str]
    durable_writes: bool = True
    tables: dict[str, Table] = field(default_factory=dict)


class Engine:
    def __init__(
        self,
        rpc_address: str = "127.0.0.1",
        rpc_port: int = 9042,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self.keyspaces: dict[str, Keyspace] = {}
        self.prepared: dict[bytes, Prepared] = {}
        self.host_id = uuid.uuid4()
        self.schema_version = uuid.uuid4()
        self._last_timestamp = 0
        self._rpc = (rpc_address, rpc_port)
        self._bootstrapping = True
        for name in SYSTEM_KEYSPACES:
            self._create_keyspace(CreateKeyspace(name, False, {"class": LOCAL_STRATEGY}))
        for keyspace_name, statements in SYSTEM_TABLES.items():
            for ddl in statements:
                self._run(parse(ddl), Bindings.none(), QueryOptions(), Session(keyspace_name))
        self._bootstrapping = False
        for keyspace in list(self.keyspaces.values()):
            self._record_keyspace(keyspace)
            for table in keyspace.tables.values():
                self._record_table(table.schema)
        self._write_local()

    # -- public API (the protocol layer calls these) -------------------------------------------

    def execute(self, query: str, options: QueryOptions, session: Session) -> Result:
        statement = parse(query)
        schema = self._schema_for(statement, session)
        specs = bind_specs(statement, schema)
        return self._run(statement, self._bindings(specs, options), options, session)

    def prepare(self, query: str, session: Session) -> Prepared:
        statement = parse(query)
        if isinstance(statement, Batch):
            raise InvalidRequest("BATCH statements cannot be prepared in this server")
        schema = self._schema_for(statement, session)
        specs = bind_specs(statement, schema)
        statement_id = hashlib.md5(f"{session.keyspace}:{query}".encode()).digest()
        pk_indexes: list[int] = []
        if schema is not None:
            for column in schema.partition_key:
                index = next((i for i, spec in enumerate(specs) if spec.name == column), None)
                if index is None:
                    pk_indexes = []
                    break
                pk_indexes.append(index)
        result_columns = (
            reads.result_columns(statement, schema)
            if isinstance(statement, Select) and schema is not None
            else []
        )
        prepared = Prepared(
            statement_id, statement, session.keyspace, specs, pk_indexes, result_columns
        )
        self.prepared[statement_id] = prepared
        return prepared

    def execute_prepared(
        self, statement_id: bytes, options: QueryOptions, session: Session
    ) -> Result:
        prepared = self.prepared.get(statement_id)
        if prepared is None:
            raise Unprepared(statement_id)
        scoped = Session(prepared.keyspace)
        return self._run(
            prepared.statement, self._bindings(prepared.specs, options), options, scoped
        )

    def batch(
        self,
        kind: str,
        items: list[tuple[str | bytes, list[bytes | Any | None]]],
        options: QueryOptions,
        session: Session,
    ) -> Result:
        """A protocol BATCH: each item is a query string or a prepared id, with its values."""
        statements: list[tuple[Insert | Update | Delete, Bindings, Session]] = []
        for query, values in items:
            if isinstance(query, bytes):
                prepared = self.prepared.get(query)
                if prepared is None:
                    raise Unprepared(query)
                statement, scoped, specs = (
                    prepared.statement,
                    Session(prepared.keyspace),
                    prepared.specs,
                )
            else:
                statement, scoped = parse(query), session
                specs = bind_specs(statement, self._schema_for(statement, session))
            if not isinstance(statement, Insert | Update | Delete):
                raise InvalidRequest("Only INSERT, UPDATE and DELETE are allowed in a BATCH")
            statements.append((statement, self._bindings(specs, QueryOptions(values)), scoped))
        return self._batch(kind, statements, options)

    # -- execution -----------------------------------------------------------------------------

    def next_timestamp(self) -> int:
        """Server-side write time in microseconds, strictly increasing."""
        now = int(self.clock() * 1_000_000)
        self._last_timestamp = max(now, self._last_timestamp + 1)
        return self._last_timestamp

    def _bindings(self, specs: list[ColumnSpec], options: QueryOptions) -> Bindings:
        values = list(options.values)
        if options.names is not None:
            by_name = dict(zip(options.names, values, strict=True))
            missing = [spec.name for spec in specs if spec.name not in by_name]
            if missing:
                raise InvalidRequest(f"No value provided for bind variable(s) {', '.join(missing)}")
            values = [by_name[spec.name] for spec in specs]
        if len(values) != len(specs):
            raise InvalidRequest(
                f"There were {len(specs)} markers(?) in CQL but {len(values)} bound variables"
            )
        return Bindings(specs, values)

    def _schema_for(self, statement: Statement, session: Session) -> TableSchema | None:
        if isinstance(statement, Insert | Update | Delete | Select):
            return self._table(statement.table, session).schema
        return None

    def _keyspace_name(self, name: str | None, session: Session) -> str:
        keyspace = name or session.keyspace
        if keyspace is None:
            raise InvalidRequest(
                "No keyspace has been specified. USE a keyspace, "
                "or explicitly specify keyspace.tablename"
            )
        return keyspace

    def _keyspace(self, name: str) -> Keyspace:
        keyspace = self.keyspaces.get(name)
        if keyspace is None:
            raise InvalidRequest(f"Keyspace '{name}' does not exist")
        return keyspace

    def _table(self, name: TableName, session: Session) -> Table:
        keyspace = self._keyspace(self._keyspace_name(name.keyspace, session))
        table = keyspace.tables.get(name.name)
        if table is None:
            raise InvalidRequest(f"table {name.name} does not exist")
        return table

    def _run(
        self, statement: Statement, bindings: Bindings, options: QueryOptions, session: Session
    ) -> Result:
        if isinstance(statement, Select):
            table = self._table(statement.table, session)
            page = reads.select(
                table, statement, bindings, self.clock(), options.page_size, options.paging_state
            )
            return page
        if isinstance(statement, Insert | Update | Delete):
            table = self._table(statement.table, session)
            self._refuse_system_write(table.schema.keyspace)
            ctx = writes.WriteContext(
                table, bindings, options.timestamp or self.next_timestamp(), self.clock()
            )
            return self._write(ctx, statement) or Void()
        if isinstance(statement, Batch):
            items = [(s, bindings, session) for s in statement.statements]
            timestamp = evaluate_timestamp(statement.timestamp, bindings) or options.timestamp
            return self._batch(statement.kind, items, QueryOptions(timestamp=timestamp))
        if isinstance(statement, Use):
            self._keyspace(statement.keyspace)
            session.keyspace = statement.keyspace
            return SetKeyspace(statement.keyspace)
        if isinstance(statement, CreateKeyspace):
            return self._create_keyspace(statement)
        if isinstance(statement, CreateTable):
            return self._create_table(statement, session)
        if isinstance(statement, Drop):
            return self._drop(statement, session)
        if isinstance(statement, Truncate):
            table = self._table(statement.table, session)
            self._refuse_system_write(table.schema.keyspace)
            table.truncate()
            return Void()
        raise InvalidRequest(f"unsupported statement {type(statement).__name__}")

    @staticmethod
    def _write(ctx: writes.WriteContext, statement: Insert | Update | Delete) -> Page | None:
        if isinstance(statement, Insert):
            return writes.insert(ctx, statement)
        if isinstance(statement, Update):
            return writes.update(ctx, statement)
        return writes.delete(ctx, statement)

    def _batch(
        self,
        kind: str,
        statements: list[tuple[Insert | Update | Delete, Bindings, Session]],
        options: QueryOptions,
    ) -> Result:
        timestamp = options.timestamp or self.next_timestamp()
        now = self.clock()
        resolved = []
        for statement, bindings, session in statements:
            if (
                statement.if_not_exists
                if isinstance(statement, Insert)
                else (statement.if_exists or statement.conditions)
            ):
                raise InvalidRequest(
                    "conditional batches are not supported by this development server"
                )
            table = self._table(statement.table, session)
            self._refuse_system_write(table.schema.keyspace)
            if table.schema.is_counter_table != (kind == "counter"):
                raise InvalidRequest(
                    "Cannot include a counter statement in a logged batch"
                    if table.schema.is_counter_table
                    else "Cannot include non-counter statement in a counter batch"
                )
            resolved.append((writes.WriteContext(table, bindings, timestamp, now), statement))
        for ctx, statement in resolved:
            self._write(ctx, statement)
        return Void()

    def _refuse_system_write(self, keyspace: str) -> None:
        if keyspace in SYSTEM_KEYSPACES and not self._bootstrapping:
            raise InvalidRequest(f"{keyspace} keyspace is not user-modifiable")

    # -- schema --------------------------------------------------------------------------------

    def _schema_changed(self) -> None:
        self.schema_version = uuid.uuid4()
        if not self._bootstrapping:
            self._write_local()

    def _create_keyspace(self, statement: CreateKeyspace) -> Result:
        if statement.name in self.keyspaces:
            if statement.if_not_exists:
                return Void()
            raise AlreadyExists(statement.name)
        replication = dict(statement.replication)
        strategy = replication["class"].rsplit(".", 1)[-1]
        if strategy not in STRATEGIES:
            raise ConfigurationException(
                f"Unable to find replication strategy class '{replication['class']}'"
            )
        replication["class"] = STRATEGY_PREFIX + strategy
        keyspace = Keyspace(statement.name, replication, statement.durable_writes)
        self.keyspaces[statement.name] = keyspace
        if not self._bootstrapping:
            self._record_keyspace(keyspace)
        self._schema_changed()
        return SchemaChange("CREATED", "KEYSPACE", statement.name)

    def _create_table(self, statement: CreateTable, session: Session) -> Result:
        keyspace = self._keyspace(self._keyspace_name(statement.table.keyspace, session))
        name = statement.table.name
        if name in keyspace.tables:
            if statement.if_not_exists:
                return Void()
            raise AlreadyExists(keyspace.name, name)
        schema = build_table_schema(keyspace.name, statement)
        keyspace.tables[name] = Table(schema)
        if not self._bootstrapping:
            self._record_table(schema)
        self._schema_changed()
        return SchemaChange("CREATED", "TABLE", keyspace.name, name)

    def _drop(self, statement: Drop, session: Session) -> Result:
        if statement.kind == "keyspace":
            name = statement.name.name
            if name not in self.keyspaces:
                if statement.if_exists:
                    return Void()
                raise InvalidRequest(f"Cannot drop non existing keyspace '{name}'.")
            self._refuse_system_write(name)
            keyspace = self.keyspaces.pop(name)
            self._forget_schema_rows(name, list(keyspace.tables))
            self._drop_prepared(name, None)
            self._schema_changed()
            return SchemaChange("DROPPED", "KEYSPACE", name)
        keyspace_name = self._keyspace_name(statement.name.keyspace, session)
        owner = self.keyspaces.get(keyspace_name)
        if owner is None or statement.name.name not in owner.tables:
            if statement.if_exists and owner is not None:
                return Void()
            raise InvalidRequest(f"Table '{keyspace_name}.{statement.name.name}' doesn't exist")
        self._refuse_system_write(keyspace_name)
        del owner.tables[statement.name.name]
        self._forget_schema_rows(keyspace_name, [statement.name.name], keep_keyspace=True)
        self._drop_prepared(keyspace_name, statement.name.name)
        self._schema_changed()
        return SchemaChange("DROPPED", "TABLE", keyspace_name, statement.name.name)

    def _drop_prepared(self, keyspace: str, table: str | None) -> None:
        for statement_id, prepared in list(self.prepared.items()):
            target = getattr(prepared.statement, "table", None)
            if target is None:
                continue
            target_keyspace = target.keyspace or prepared.keyspace
            if target_keyspace == keyspace and (table is None or target.name == table):
                del self.prepared[statement_id]

    # -- system tables -------------------------------------------------------------------------

    def _system_write(self, keyspace: str, table: str, values: dict[str, Any]) -> None:
        target = self.keyspaces[keyspace].tables[table]
        schema = target.schema
        encoded = {name: (None if value is None else schema.columns[name].type.encode(value))
                   for name, value in values.items()}  # fmt: skip
        partition = tuple(encoded.pop(name) for name in schema.partition_key)
        clustering = tuple(encoded.pop(name) for name in schema.clustering)
        target.write(partition, clustering, encoded, timestamp=self.next_timestamp(),  # type: ignore[arg-type]
                     ttl=None, now=self.clock(), marker=True)  # fmt: skip

    def _write_local(self) -> None:
        address, port = self._rpc
        self._system_write("system", "local", {
            "key": "local", "bootstrapped": "COMPLETED", "broadcast_address": address,
            "broadcast_port": 7000, "cluster_name": "devstack", "cql_version": CQL_VERSION,
            "data_center": "datacenter1", "gossip_generation": int(self.clock()),
            "host_id": self.host_id, "listen_address": address, "listen_port": 7000,
            "native_protocol_version": "4", "partitioner": PARTITIONER, "rack": "rack1",
            "release_version": RELEASE_VERSION, "rpc_address": str(ip_address(address)),
            "rpc_port": port, "schema_version": self.schema_version, "tokens": {"0"},
        })  # fmt: skip

    def _record_keyspace(self, keyspace: Keyspace) -> None:
        target = (
            "system_virtual_schema" if keyspace.name == "system_virtual_schema" else "system_schema"
        )
        row: dict[str, Any] = {"keyspace_name": keyspace.name}
        if target == "system_schema":
            row |= {"durable_writes": keyspace.durable_writes, "replication": keyspace.replication}
        self._system_write(target, "keyspaces", row)

    def _record_table(self, schema: TableSchema) -> None:
        options = {**DEFAULT_TABLE_OPTIONS, **schema.options}
        self._system_write("system_schema", "tables", {
            "keyspace_name": schema.keyspace, "table_name": schema.name,
            "flags": {"compound"}, "id": schema.id, **options,
        })  # fmt: skip
        for column in schema.columns.values():
            order = column.order.lower() if column.kind == "clustering" else "none"
            self._system_write("system_schema", "columns", {
                "keyspace_name": schema.keyspace, "table_name": schema.name,
                "column_name": column.name, "clustering_order": order,
                "column_name_bytes": column.name.encode(), "kind": column.kind,
                "position": column.position, "type": str(column.type),
            })  # fmt: skip

    def _forget_schema_rows(
        self, keyspace: str, tables: list[str], keep_keyspace: bool = False
    ) -> None:
        schema_tables = self.keyspaces["system_schema"].tables
        ts = self.next_timestamp()
        key = (keyspace.encode(),)
        if not keep_keyspace:
            for name in ("keyspaces", "tables", "columns"):
                if name == "keyspaces":
                    schema_tables[name].delete_row(key, (), ts)
                else:
                    schema_tables[name].delete_partition(key, ts)
            return
        for table in tables:
            schema_tables["tables"].delete_row(key, (table.encode(),), ts)
            columns = schema_tables["columns"].partition(key)
            for row in list(columns.iter_rows()) if columns else []:
                if row.clustering[0] == table.encode():
                    schema_tables["columns"].delete_row(key, row.clustering, ts)


def build_table_schema(keyspace: str, statement: CreateTable) -> TableSchema:
    columns_by_name: dict[str, Any] = {}
    for column in statement.columns:
        if column.name in columns_by_name:
            raise InvalidRequest(f"Multiple definition of identifier {column.name}")
        if column.static:
            raise InvalidRequest("static columns are not supported by this development server")
        columns_by_name[column.name] = column
    key_names = [*statement.partition_key, *statement.clustering]
    for name in key_names:
        if name not in columns_by_name:
            raise InvalidRequest(f"Unknown definition {name} referenced in PRIMARY KEY")
        key_type = columns_by_name[name].type
        if key_type.is_collection and not key_type.frozen:
            raise InvalidRequest(
                f"Invalid non-frozen collection type for PRIMARY KEY component {name}"
            )
        if key_type.is_counter:
            raise InvalidRequest(f"counter type is not supported for PRIMARY KEY column '{name}'")
    for name in statement.clustering_order:
        if name not in statement.clustering:
            raise InvalidRequest(
                f"Only clustering key columns can be defined in CLUSTERING ORDER directive: {name}"
            )
    if list(statement.clustering_order) != statement.clustering[: len(statement.clustering_order)]:
        raise InvalidRequest(
            "The order of columns in the CLUSTERING ORDER directive must match "
            "that of the clustering columns"
        )
    regular = sorted(name for name in columns_by_name if name not in key_names)
    counters = [name for name in regular if columns_by_name[name].type.is_counter]
    if counters and len(counters) != len(regular):
        raise InvalidRequest("Cannot mix counter and non counter columns in the same table")
    for option in statement.options:
        if option not in DEFAULT_TABLE_OPTIONS or option in ("extensions",):
            raise ConfigurationException(f"Unknown property '{option}'")
    columns: dict[str, ColumnSchema] = {}
    for position, name in enumerate(statement.partition_key):
        columns[name] = ColumnSchema(name, columns_by_name[name].type, "partition_key", position)
    for position, name in enumerate(statement.clustering):
        order = statement.clustering_order.get(name, "ASC")
        columns[name] = ColumnSchema(
            name, columns_by_name[name].type, "clustering", position, order
        )
    for name in regular:
        columns[name] = ColumnSchema(name, columns_by_name[name].type, "regular")
    return TableSchema(keyspace, statement.table.name, columns, list(statement.partition_key),
                       list(statement.clustering), dict(statement.options))  # fmt: skip
