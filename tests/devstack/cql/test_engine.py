"""The CQL engine's semantics, without the network: what Cassandra would answer."""

import uuid
from datetime import datetime

import pytest

from devstack.cql.binding import UNSET
from devstack.cql.engine import Prepared, QueryOptions, SchemaChange, Session, Void
from devstack.cql.errors import (
    AlreadyExists,
    ConfigurationException,
    InvalidRequest,
    SyntaxException,
    Unprepared,
)
from devstack.cql.reads import Page
from devstack.cql.types import CqlType
from tests.devstack.cql.conftest import Cql, FakeClock

INT = CqlType("int")

HISTORY = (
    "CREATE TABLE history (profile text, at timestamp, title text, seconds int, "
    "PRIMARY KEY (profile, at)) WITH CLUSTERING ORDER BY (at DESC)"
)


def test_ddl_reports_schema_changes_and_refuses_duplicates(cql: Cql) -> None:
    assert cql(HISTORY) == SchemaChange("CREATED", "TABLE", "ks", "history")
    with pytest.raises(AlreadyExists):
        cql(HISTORY)
    assert cql(HISTORY.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS")) == Void()
    assert cql("DROP TABLE history") == SchemaChange("DROPPED", "TABLE", "ks", "history")
    with pytest.raises(InvalidRequest, match="doesn't exist"):
        cql("DROP TABLE history")
    assert cql("DROP TABLE IF EXISTS history") == Void()


def test_schema_is_visible_in_system_schema(cql: Cql) -> None:
    cql(HISTORY)
    columns = cql.rows(
        "SELECT column_name, kind, position, clustering_order, type FROM system_schema.columns "
        "WHERE keyspace_name = 'ks' AND table_name = 'history'"
    )
    assert sorted(columns) == [
        ("at", "clustering", 0, "desc", "timestamp"),
        ("profile", "partition_key", 0, "none", "text"),
        ("seconds", "regular", -1, "none", "int"),
        ("title", "regular", -1, "none", "text"),
    ]
    before = cql.rows("SELECT schema_version FROM system.local WHERE key = 'local'")
    cql("DROP TABLE history")
    after = cql.rows("SELECT schema_version FROM system.local WHERE key = 'local'")
    assert before != after
    assert cql.rows("SELECT table_name FROM system_schema.tables WHERE keyspace_name = 'ks'") == []


def test_clustering_order_ranges_limits_and_reversal(cql: Cql) -> None:
    cql(HISTORY)
    for minute in range(10):
        cql(
            f"INSERT INTO history (profile, at, title) VALUES ('p', '2024-01-01 00:{minute:02d}', 't{minute}')"
        )
    cql("INSERT INTO history (profile, at, title) VALUES ('q', 0, 'other')")
    newest_first = cql.rows("SELECT title FROM history WHERE profile = 'p' LIMIT 3")
    assert newest_first == [("t9",), ("t8",), ("t7",)]
    oldest_first = cql.rows("SELECT title FROM history WHERE profile = 'p' ORDER BY at ASC LIMIT 2")
    assert oldest_first == [("t0",), ("t1",)]
    window = cql.rows(
        "SELECT title FROM history WHERE profile = 'p' "
        "AND at >= '2024-01-01 00:03' AND at < '2024-01-01 00:06'"
    )
    assert window == [("t5",), ("t4",), ("t3",)]
    both = cql.rows(
        "SELECT profile, title FROM history WHERE profile IN ('q', 'p') PER PARTITION LIMIT 1"
    )
    assert sorted(both) == [("p", "t9"), ("q", "other")]
    assert cql.rows("SELECT COUNT(*) FROM history") == [(11,)]


def test_last_write_wins_by_write_timestamp(cql: Cql) -> None:
    cql("CREATE TABLE kv (k text PRIMARY KEY, v text)")
    cql("INSERT INTO kv (k, v) VALUES ('a', 'new') USING TIMESTAMP 2000")
    cql("INSERT INTO kv (k, v) VALUES ('a', 'old') USING TIMESTAMP 1000")
    assert cql.rows("SELECT v, WRITETIME(v) FROM kv WHERE k = 'a'") == [("new", 2000)]
    cql("DELETE FROM kv USING TIMESTAMP 1500 WHERE k = 'a'")
    assert cql.rows("SELECT v FROM kv WHERE k = 'a'") == [("new",)], "an older delete loses"
    cql("DELETE FROM kv USING TIMESTAMP 2500 WHERE k = 'a'")
    assert cql.rows("SELECT v FROM kv WHERE k = 'a'") == []
    cql("INSERT INTO kv (k, v) VALUES ('a', 'late') USING TIMESTAMP 2400")
    assert cql.rows("SELECT v FROM kv WHERE k = 'a'") == [], "the tombstone shadows older writes"


def test_client_timestamps_order_writes(cql: Cql) -> None:
    cql("CREATE TABLE kv (k text PRIMARY KEY, v text)")
    cql("INSERT INTO kv (k, v) VALUES ('a', 'second')", timestamp=20)
    cql("INSERT INTO kv (k, v) VALUES ('a', 'first')", timestamp=10)
    assert cql.rows("SELECT v FROM kv WHERE k = 'a'") == [("second",)]


def test_ttl_expiry_and_default_ttl(cql: Cql, clock: FakeClock) -> None:
    cql("CREATE TABLE sessions (id text PRIMARY KEY, user text) WITH default_time_to_live = 60")
    cql("INSERT INTO sessions (id, user) VALUES ('s1', 'ann')")
    cql("INSERT INTO sessions (id, user) VALUES ('s2', 'bob') USING TTL 10")
    cql("INSERT INTO sessions (id, user) VALUES ('s3', 'cat') USING TTL 0")
    assert cql.rows("SELECT id, TTL(user) FROM sessions WHERE id = 's2'") == [("s2", 10)]
    clock.now += 11
    assert sorted(cql.rows("SELECT id FROM sessions")) == [("s1",), ("s3",)]
    clock.now += 50
    assert cql.rows("SELECT id, TTL(user) FROM sessions") == [("s3", None)]


def test_an_updated_row_without_marker_vanishes_when_its_cells_expire(
    cql: Cql, clock: FakeClock
) -> None:
    cql("CREATE TABLE kv (k text PRIMARY KEY, v text)")
    cql("UPDATE kv USING TTL 5 SET v = 'x' WHERE k = 'a'")
    assert cql.rows("SELECT k, v FROM kv") == [("a", "x")]
    clock.now += 6
    assert cql.rows("SELECT k, v FROM kv") == []


def test_inserted_row_outlives_its_expired_cell(cql: Cql, clock: FakeClock) -> None:
    cql("CREATE TABLE kv (k text PRIMARY KEY, v text, w text)")
    cql("INSERT INTO kv (k, v) VALUES ('a', 'x')")
    cql("UPDATE kv USING TTL 5 SET w = 'y' WHERE k = 'a'")
    clock.now += 6
    assert cql.rows("SELECT k, v, w FROM kv") == [("a", "x", None)]


def test_counters_add_and_subtract(cql: Cql) -> None:
    cql("CREATE TABLE plays (title text, region text, n counter, PRIMARY KEY (title, region))")
    for delta in (5, 3, -2):
        cql(f"UPDATE plays SET n = n + {delta} WHERE title = 't' AND region = 'eu'")
    cql("UPDATE plays SET n = n - 1 WHERE title = 't' AND region = 'us'")
    assert cql.rows("SELECT region, n FROM plays WHERE title = 't'") == [("eu", 6), ("us", -1)]
    with pytest.raises(InvalidRequest, match="not allowed on counter tables"):
        cql("INSERT INTO plays (title, region, n) VALUES ('t', 'x', 1)")
    with pytest.raises(InvalidRequest, match="Cannot set the value of counter"):
        cql("UPDATE plays SET n = 4 WHERE title = 't' AND region = 'eu'")


def test_lightweight_transactions(cql: Cql) -> None:
    cql("CREATE TABLE users (email text PRIMARY KEY, name text, version int)")
    applied = cql.rows(
        "INSERT INTO users (email, name, version) VALUES ('a@x', 'Ann', 1) IF NOT EXISTS"
    )
    assert applied == [(True,)]
    refused = cql.rows(
        "INSERT INTO users (email, name, version) VALUES ('a@x', 'Eve', 1) IF NOT EXISTS"
    )
    assert refused == [(False, "a@x", "Ann", 1)]
    assert cql.rows("UPDATE users SET name = 'Anne' WHERE email = 'a@x' IF version = 2") == [
        (False, 1)
    ]
    assert cql.rows(
        "UPDATE users SET name = 'Anne', version = 2 WHERE email = 'a@x' IF version = 1"
    ) == [(True,)]
    assert cql.rows("UPDATE users SET name = 'Z' WHERE email = 'nobody' IF EXISTS") == [(False,)]
    assert cql.rows("DELETE FROM users WHERE email = 'a@x' IF EXISTS") == [(True,)]
    assert cql.rows("SELECT * FROM users") == []


def test_collections(cql: Cql) -> None:
    cql(
        "CREATE TABLE profiles (id int PRIMARY KEY, tags set<text>, queue list<int>, prefs map<text, text>)"
    )
    cql(
        "INSERT INTO profiles (id, tags, queue, prefs) VALUES (1, {'b', 'a'}, [1, 2], {'lang': 'en'})"
    )
    cql(
        "UPDATE profiles SET tags = tags + {'c'}, queue = queue + [3], prefs['sub'] = 'on' WHERE id = 1"
    )
    cql(
        "UPDATE profiles SET queue = [0] + queue, tags = tags - {'a'}, prefs = prefs - {'lang'} WHERE id = 1"
    )
    [(tags, queue, prefs)] = cql.rows("SELECT tags, queue, prefs FROM profiles WHERE id = 1")
    assert sorted(tags) == ["b", "c"]
    assert queue == [0, 1, 2, 3]
    assert dict(prefs) == {"sub": "on"}


def test_paging_resumes_after_the_last_row_and_honours_limit(cql: Cql) -> None:
    cql("CREATE TABLE events (bucket int, seq int, PRIMARY KEY (bucket, seq))")
    for bucket in range(3):
        for seq in range(7):
            cql(f"INSERT INTO events (bucket, seq) VALUES ({bucket}, {seq})")
    seen: list[tuple[int, int]] = []
    state = None
    pages = 0
    while True:
        page = cql("SELECT bucket, seq FROM events", page_size=4, paging_state=state)
        assert isinstance(page, Page)
        seen += [(INT.decode(b or b""), INT.decode(s or b"")) for b, s in page.rows]
        pages += 1
        state = page.paging_state
        if state is None:
            break
    assert sorted(seen) == [(b, s) for b in range(3) for s in range(7)]
    assert len(seen) == 21 and pages == 6
    limited = cql("SELECT seq FROM events WHERE bucket = 1 LIMIT 5", page_size=3)
    assert isinstance(limited, Page) and len(limited.rows) == 3
    rest = cql(
        "SELECT seq FROM events WHERE bucket = 1 LIMIT 5",
        page_size=3,
        paging_state=limited.paging_state,
    )
    assert isinstance(rest, Page) and len(rest.rows) == 2 and rest.paging_state is None


def test_batches_apply_every_statement_with_one_timestamp(cql: Cql) -> None:
    cql("CREATE TABLE kv (k text PRIMARY KEY, v text)")
    cql(
        "BEGIN BATCH INSERT INTO kv (k, v) VALUES ('a', '1'); INSERT INTO kv (k, v) VALUES ('b', '2'); "
        "DELETE FROM kv WHERE k = 'c'; APPLY BATCH"
    )
    rows = cql.rows("SELECT k, WRITETIME(v) FROM kv")
    assert sorted(k for k, _ in rows) == ["a", "b"]
    assert len({ts for _, ts in rows}) == 1


def test_prepared_statements_bind_by_position_and_name(cql: Cql) -> None:
    cql("CREATE TABLE kv (k text PRIMARY KEY, v int)")
    prepared = cql.engine.prepare("INSERT INTO kv (k, v) VALUES (?, :v)", cql.session)
    assert isinstance(prepared, Prepared)
    assert [spec.name for spec in prepared.specs] == ["k", "v"]
    assert prepared.pk_indexes == [0]
    cql.engine.execute_prepared(prepared.id, QueryOptions([b"a", b"\x00\x00\x00\x07"]), Session())
    cql.engine.execute_prepared(
        prepared.id, QueryOptions([b"\x00\x00\x00\x08", b"b"], names=["v", "k"]), Session()
    )
    cql.engine.execute_prepared(prepared.id, QueryOptions([b"c", UNSET]), Session())
    assert sorted(cql.rows("SELECT k, v FROM kv")) == [("a", 7), ("b", 8), ("c", None)]
    with pytest.raises(InvalidRequest, match="2 markers"):
        cql.engine.execute_prepared(prepared.id, QueryOptions([b"a"]), Session())
    with pytest.raises(InvalidRequest, match=r"invalid int value|expected 4 bytes"):
        cql.engine.execute_prepared(prepared.id, QueryOptions([b"a", b"\x01"]), Session())
    with pytest.raises(Unprepared):
        cql.engine.execute_prepared(b"\x00" * 16, QueryOptions([]), Session())


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("SELEC * FROM kv", SyntaxException),
        ("SELECT * FROM kv WHERE", SyntaxException),
        ("INSERT INTO kv (k, v) VALUES ('a')", InvalidRequest),
        ("SELECT * FROM nowhere", InvalidRequest),
        ("SELECT * FROM kv WHERE v = 1", InvalidRequest),
        ("INSERT INTO kv (k, v) VALUES ('a', 'not an int')", InvalidRequest),
        ("INSERT INTO kv (k, v) VALUES (null, 1)", InvalidRequest),
        ("CREATE TABLE t (a time PRIMARY KEY)", InvalidRequest),
        ("CREATE KEYSPACE k2 WITH replication = {'replication_factor': 1}", ConfigurationException),
        ("UPDATE kv SET v = 1", SyntaxException),
        ("DROP KEYSPACE system", InvalidRequest),
        ("INSERT INTO system.local (key) VALUES ('x')", InvalidRequest),
        ("SELECT * FROM kv WHERE k = 'a' ORDER BY v DESC", InvalidRequest),
        ("INSERT INTO kv (k, v) VALUES ('a', 2147483648)", InvalidRequest),
    ],
)
def test_bad_statements_get_the_proper_error(cql: Cql, query: str, error: type[Exception]) -> None:
    cql("CREATE TABLE kv (k text PRIMARY KEY, v int)")
    with pytest.raises(error):
        cql(query)


def test_literals_of_every_supported_type_round_trip(cql: Cql) -> None:
    cql(
        "CREATE TABLE everything (id uuid PRIMARY KEY, t text, i int, b bigint, f float, d double, "
        "flag boolean, at timestamp, tu timeuuid, data blob, ip inet, small smallint)"
    )
    key = uuid.uuid4()
    cql(
        f"INSERT INTO everything (id, t, i, b, f, d, flag, at, tu, data, ip, small) VALUES ({key}, "
        f"'it''s', -5, 9000000000, 1.5, -2.25e3, true, '2024-02-03T04:05:06.789Z', now(), 0xcafe, "
        f"'10.0.0.1', 7)"
    )
    [row] = cql.rows(
        f"SELECT id, t, i, b, f, d, flag, at, data, ip, small FROM everything WHERE id = {key}"
    )
    assert row == (key, "it's", -5, 9000000000, 1.5, -2250.0, True,
                   datetime(2024, 2, 3, 4, 5, 6, 789000), b"\xca\xfe", "10.0.0.1", 7)  # fmt: skip


def test_rows_fixed_by_every_clustering_column_come_back_in_clustering_order(cql: Cql) -> None:
    cql(HISTORY)
    for minute in range(5):
        cql(
            f"INSERT INTO history (profile, at, title) VALUES ('p', '2024-01-01 00:0{minute}', 't{minute}')"
        )
    wanted = "('2024-01-01 00:03', '2024-01-01 00:00', '2024-01-01 00:09', '2024-01-01 00:01')"
    assert cql.rows(f"SELECT title FROM history WHERE profile = 'p' AND at IN {wanted}") == [
        ("t3",),
        ("t1",),
        ("t0",),
    ]
    assert cql.rows(
        f"SELECT title FROM history WHERE profile = 'p' AND at IN {wanted} ORDER BY at ASC"
    ) == [("t0",), ("t1",), ("t3",)]
    assert cql.rows(
        "SELECT title FROM history WHERE profile = 'p' AND at = '2024-01-01 00:04'"
    ) == [("t4",)]
