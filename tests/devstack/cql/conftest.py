from collections.abc import Callable
from typing import Any

import pytest

from devstack.cql.engine import Engine, QueryOptions, Result, Session
from devstack.cql.reads import Page


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class Cql:
    """Runs CQL text against an engine and decodes rows with the result's column types."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.session = Session()

    def __call__(self, query: str, **options: Any) -> Result:
        return self.engine.execute(query, QueryOptions(**options), self.session)

    def rows(self, query: str, **options: Any) -> list[tuple[Any, ...]]:
        page = self(query, **options)
        assert isinstance(page, Page)
        return [
            tuple(
                None if raw is None else col.type.decode(raw)
                for col, raw in zip(page.columns, row, strict=True)
            )
            for row in page.rows
        ]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cql(clock: FakeClock) -> Cql:
    run = Cql(Engine(clock=clock))
    run(
        "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    run("USE ks")
    return run


CqlRunner = Callable[..., Result]
