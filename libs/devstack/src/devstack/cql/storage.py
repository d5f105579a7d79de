"""In-memory tables with Cassandra's write semantics: cells with write timestamps and TTLs,
last write wins, row and partition tombstones that shadow older writes."""

from __future__ import annotations

import bisect
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cassandra.murmur3 import murmur3

from devstack.cql.types import CqlType, Descending

Key = tuple[bytes, ...]


@dataclass
class ColumnSchema:
    name: str
    type: CqlType
    kind: str  # partition_key, clustering, regular
    position: int = -1
    order: str = "ASC"


@dataclass
class TableSchema:
    keyspace: str
    name: str
    columns: dict[str, ColumnSchema]
    partition_key: list[str]
    clustering: list[str]
    options: dict[str, Any] = field(default_factory=dict)
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def regular(self) -> list[str]:
        return [c for c, s in self.columns.items() if s.kind == "regular"]

    @property
    def is_counter_table(self) -> bool:
        return any(self.columns[c].type.is_counter for c in self.regular)

    @property
    def default_ttl(self) -> int:
        return int(self.options.get("default_time_to_live", 0) or 0)

    def clustering_sort_key(self, clustering: Key) -> tuple[Any, ...]:
        key: list[Any] = []
        for name, raw in zip(self.clustering, clustering, strict=True):
            column = self.columns[name]
            value = column.type.sort_key(raw)
            key.append(Descending(value) if column.order == "DESC" else value)
        return tuple(key)

    def token(self, partition: Key) -> int:
        return partition_token(partition)


def partition_token(partition: Key) -> int:
    """Murmur3Partitioner's token, as the driver computes it for routing."""
    if len(partition) == 1:
        return int(murmur3(partition[0]))
    composite = b"".join(struct.pack(">H", len(part)) + part + b"\x00" for part in partition)
    return int(murmur3(composite))


@dataclass(slots=True)
class Cell:
    value: bytes | None  # None is a tombstone
    timestamp: int  # microseconds
    expires_at: float | None = None  # epoch seconds
    ttl: int | None = None

    def live(self, now: float) -> bool:
        return self.value is not None and (self.expires_at is None or self.expires_at > now)

    def beats(self, other: Cell) -> bool:
        """Cassandra's reconciliation: newer timestamp, then tombstone, then greater value."""
        if self.timestamp != other.timestamp:
            return self.timestamp > other.timestamp
        if self.value is None or other.value is None:
            return self.value is None
        return self.value > other.value


@dataclass(slots=True)
class Row:
    clustering: Key
    marker: Cell | None = None  # row liveness written by INSERT
    cells: dict[str, Cell] = field(default_factory=dict)
    deleted_at: int | None = None

    def is_live(self, now: float) -> bool:
        if self.marker is not None and self.marker.live(now):
            return True
        return any(cell.live(now) for cell in self.cells.values())

    def shadow(self, timestamp: int) -> None:
        self.deleted_at = max(self.deleted_at or timestamp, timestamp)
        if self.marker is not None and self.marker.timestamp <= timestamp:
            self.marker = None
        self.cells = {n: c for n, c in self.cells.items() if c.timestamp > timestamp}


@dataclass
class Partition:
    key: Key
    schema: TableSchema
    rows: dict[Key, Row] = field(default_factory=dict)
    order: list[tuple[tuple[Any, ...], Key]] = field(default_factory=list)
    deleted_at: int | None = None

    def row(self, clustering: Key) -> Row:
        existing = self.rows.get(clustering)
        if existing is None:
            existing = self.rows[clustering] = Row(clustering)
            if self.deleted_at is not None:
                existing.deleted_at = self.deleted_at
            bisect.insort(self.order, (self.schema.clustering_sort_key(clustering), clustering))
        return existing

    def iter_rows(self, reverse: bool = False) -> Iterator[Row]:
        entries = reversed(self.order) if reverse else iter(self.order)
        for _, clustering in entries:
            row = self.rows.get(clustering)
            if row is not None:
                yield row

    def shadow(self, timestamp: int) -> None:
        self.deleted_at = max(self.deleted_at or timestamp, timestamp)
        for row in self.rows.values():
            row.shadow(timestamp)


@dataclass
class Table:
    schema: TableSchema
    partitions: dict[Key, Partition] = field(default_factory=dict)
    _token_order: list[Key] | None = None

    def partition(self, key: Key, create: bool = False) -> Partition | None:
        existing = self.partitions.get(key)
        if existing is None and create:
            existing = self.partitions[key] = Partition(key, self.schema)
            self._token_order = None
        return existing

    def partitions_in_token_order(self) -> list[Key]:
        if self._token_order is None:
            self._token_order = sorted(self.partitions, key=lambda k: (partition_token(k), k))
        return self._token_order

    def truncate(self) -> None:
        self.partitions.clear()
        self._token_order = None

    def write(
        self,
        partition_key: Key,
        clustering: Key,
        cells: dict[str, bytes | None],
        *,
        timestamp: int,
        ttl: int | None,
        now: float,
        marker: bool,
    ) -> None:
        partition = self.partition(partition_key, create=True)
        assert partition is not None
        if partition.deleted_at is not None and timestamp <= partition.deleted_at:
            return
        row = partition.row(clustering)
        if row.deleted_at is not None and timestamp <= row.deleted_at:
            return
        expires_at = now + ttl if ttl else None
        if marker:
            new_marker = Cell(b"", timestamp, expires_at, ttl)
            if row.marker is None or new_marker.beats(row.marker):
                row.marker = new_marker
        for name, value in cells.items():
            cell = Cell(value, timestamp, expires_at if value is not None else None,
                        ttl if value is not None else None)  # fmt: skip
            existing = row.cells.get(name)
            if existing is None or cell.beats(existing):
                row.cells[name] = cell

    def add_counter(
        self, partition_key: Key, clustering: Key, column: str, delta: int, timestamp: int
    ) -> None:
        partition = self.partition(partition_key, create=True)
        assert partition is not None
        row = partition.row(clustering)
        existing = row.cells.get(column)
        current = struct.unpack(">q", existing.value)[0] if existing and existing.value else 0
        total = current + delta
        row.cells[column] = Cell(
            struct.pack(">q", total), max(timestamp, existing.timestamp if existing else 0)
        )

    def delete_partition(self, partition_key: Key, timestamp: int) -> None:
        partition = self.partition(partition_key, create=True)
        assert partition is not None
        partition.shadow(timestamp)

    def delete_row(self, partition_key: Key, clustering: Key, timestamp: int) -> None:
        partition = self.partition(partition_key, create=True)
        assert partition is not None
        partition.row(clustering).shadow(timestamp)
