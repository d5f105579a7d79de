"""The CQL development server driven by real clients: cassandra-driver and cqlsh."""

import socket
import struct
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from cassandra import InvalidRequest, ProtocolVersion
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import RoundRobinPolicy
from cassandra.query import BatchStatement, SimpleStatement

from devstack.processes import wait_until
from devstack.servers import CqlServer

pytestmark = pytest.mark.integration


def connect(server: CqlServer, *, lean: bool = False) -> Cluster:
    if lean:
        # What a latency-minded service sets: a fixed protocol, no schema or token metadata.
        profile = ExecutionProfile(load_balancing_policy=RoundRobinPolicy())
        return Cluster(
            ["127.0.0.1"], port=server.port, protocol_version=ProtocolVersion.V4,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile}, schema_metadata_enabled=False,
            token_metadata_enabled=False, connect_timeout=5,
        )  # fmt: skip
    return Cluster(["127.0.0.1"], port=server.port)  # the driver's defaults


@pytest.fixture(scope="module", params=["default", "lean"])
def session(request: pytest.FixtureRequest, cql_server: CqlServer) -> Iterator[Session]:
    cluster = connect(cql_server, lean=request.param == "lean")
    session = cluster.connect()
    keyspace = f"ks_{request.param}_{uuid.uuid4().hex[:6]}"
    session.execute(
        f"CREATE KEYSPACE {keyspace} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    session.set_keyspace(keyspace)
    yield session
    cluster.shutdown()


def test_the_driver_negotiates_protocol_v4(cql_server: CqlServer) -> None:
    cluster = connect(cql_server)
    try:
        cluster.connect()
        assert cluster.protocol_version == 4
        assert cluster.metadata.cluster_name == "devstack"
    finally:
        cluster.shutdown()


def test_wide_rows_come_back_in_clustering_order(session: Session) -> None:
    session.execute(
        "CREATE TABLE history (profile text, at timestamp, title text, PRIMARY KEY (profile, at)) "
        "WITH CLUSTERING ORDER BY (at DESC)"
    )
    insert = session.prepare("INSERT INTO history (profile, at, title) VALUES (?, ?, ?)")
    for minute in (3, 1, 4, 0, 2):
        session.execute(insert, ("p1", datetime(2024, 5, 1, 12, minute), f"t{minute}"))
    titles = [
        row.title for row in session.execute("SELECT title FROM history WHERE profile = %s", ["p1"])
    ]
    assert titles == ["t4", "t3", "t2", "t1", "t0"]
    oldest = session.execute(
        "SELECT title FROM history WHERE profile = 'p1' ORDER BY at ASC LIMIT 2"
    )
    assert [row.title for row in oldest] == ["t0", "t1"]


def test_counters(session: Session) -> None:
    session.execute("CREATE TABLE plays (title text PRIMARY KEY, n counter)")
    bump = session.prepare("UPDATE plays SET n = n + ? WHERE title = ?")
    for _ in range(10):
        session.execute(bump, (3, "hit"))
    assert session.execute("SELECT n FROM plays WHERE title = 'hit'").one().n == 30


def test_ttl_expiry(session: Session) -> None:
    session.execute("CREATE TABLE tokens (id text PRIMARY KEY, owner text)")
    session.execute("INSERT INTO tokens (id, owner) VALUES ('t1', 'ann') USING TTL 1")
    assert session.execute("SELECT TTL(owner) AS left FROM tokens WHERE id = 't1'").one().left in (
        0,
        1,
    )
    wait_until(
        lambda: session.execute("SELECT * FROM tokens WHERE id = 't1'").one() is None,
        timeout_s=10,
        what="the row to expire",
    )


def test_lightweight_transactions(session: Session) -> None:
    session.execute("CREATE TABLE accounts (email text PRIMARY KEY, name text)")
    first = session.execute(
        "INSERT INTO accounts (email, name) VALUES ('a@x', 'Ann') IF NOT EXISTS"
    )
    second = session.execute(
        "INSERT INTO accounts (email, name) VALUES ('a@x', 'Eve') IF NOT EXISTS"
    )
    assert first.was_applied and not second.was_applied
    assert second.one().name == "Ann"
    swap = session.execute("UPDATE accounts SET name = 'Anne' WHERE email = 'a@x' IF name = 'Ann'")
    assert swap.was_applied


def test_paging_over_ten_thousand_rows(session: Session) -> None:
    session.execute(
        "CREATE TABLE readings (sensor int, seq int, value double, PRIMARY KEY (sensor, seq))"
    )
    insert = session.prepare("INSERT INTO readings (sensor, seq, value) VALUES (?, ?, ?)")
    batch_size = 500
    for start in range(0, 10_000, batch_size):
        batch = BatchStatement()
        for seq in range(start, start + batch_size):
            batch.add(insert, (seq % 4, seq, seq / 2))
        session.execute(batch)
    statement = SimpleStatement("SELECT sensor, seq FROM readings", fetch_size=1000)
    result = session.execute(statement)
    seen = [(row.sensor, row.seq) for row in result]
    assert len(seen) == 10_000
    assert len(set(seen)) == 10_000
    one_sensor = [row.seq for row in session.execute(SimpleStatement(
        "SELECT seq FROM readings WHERE sensor = 1", fetch_size=333))]  # fmt: skip
    assert one_sensor == sorted(one_sensor) and len(one_sensor) == 2_500


def test_batches_mix_simple_and_prepared_statements(session: Session) -> None:
    session.execute("CREATE TABLE kv (k text PRIMARY KEY, v text)")
    batch = BatchStatement()
    batch.add(SimpleStatement("INSERT INTO kv (k, v) VALUES (%s, %s)"), ("a", "1"))
    batch.add(session.prepare("INSERT INTO kv (k, v) VALUES (?, ?)"), ("b", "2"))
    batch.add(SimpleStatement("DELETE FROM kv WHERE k = 'a'"))
    session.execute(batch)
    assert sorted((row.k, row.v) for row in session.execute("SELECT * FROM kv")) == [("b", "2")]


def test_errors_reach_the_driver_as_cql_errors(session: Session) -> None:
    with pytest.raises(InvalidRequest, match="does not exist"):
        session.execute("SELECT * FROM no_such_table")
    from cassandra.protocol import SyntaxException

    with pytest.raises(SyntaxException):
        session.execute("SELEKT 1")
    assert session.execute("SELECT key FROM system.local").one().key == "local"


def test_prepared_statements_survive_a_server_restart(tmp_path: Path) -> None:
    server = CqlServer(tmp_path / "cql")
    server.start()
    cluster = Cluster(["127.0.0.1"], port=server.port, protocol_version=4)
    try:
        session = cluster.connect()
        schema = [
            "CREATE KEYSPACE IF NOT EXISTS app WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}",
            "CREATE TABLE IF NOT EXISTS app.kv (k text PRIMARY KEY, v text)",
        ]
        for ddl in schema:
            session.execute(ddl)
        insert = session.prepare("INSERT INTO app.kv (k, v) VALUES (?, ?)")
        session.execute(insert, ("before", "1"))
        server.stop()
        server.start()  # same port; memory is empty, so the statement is unknown to it

        def schema_is_back() -> bool:
            try:
                for ddl in schema:
                    session.execute(ddl)
            except Exception:
                return False
            return True

        wait_until(schema_is_back, timeout_s=30, what="the driver to reconnect")
        session.execute(insert, ("after", "2"))  # UNPREPARED, re-prepared by the driver
        assert session.execute("SELECT v FROM app.kv WHERE k = 'after'").one().v == "2"
    finally:
        cluster.shutdown()
        server.stop()


def test_cqlsh_as_a_user_would(cql_server: CqlServer, tmp_path: Path) -> None:
    script = tmp_path / "script.cql"
    script.write_text(
        "CREATE KEYSPACE shop WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1};\n"
        "USE shop;\n"
        "CREATE TABLE orders (customer text, placed timestamp, total double, "
        "PRIMARY KEY (customer, placed)) WITH CLUSTERING ORDER BY (placed DESC);\n"
        "INSERT INTO orders (customer, placed, total) VALUES ('ann', '2024-01-02 10:00:00+0000', 12.5);\n"
        "INSERT INTO orders (customer, placed, total) VALUES ('ann', '2024-03-04 10:00:00+0000', 99.0);\n"
        "SELECT placed, total FROM orders WHERE customer = 'ann';\n"
    )
    cqlsh = Path(sys.executable).parent / "cqlsh"
    result = subprocess.run(
        [str(cqlsh), "127.0.0.1", str(cql_server.port), "-f", str(script)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [line.strip() for line in result.stdout.splitlines()]
    rows = [line for line in lines if line.startswith("2024-")]
    assert rows == [
        "2024-03-04 10:00:00.000000+0000 |    99",
        "2024-01-02 10:00:00.000000+0000 |  12.5",
    ]
    assert "(2 rows)" in lines


# -- bad input ---------------------------------------------------------------------------------


def _frame(version: int, opcode: int, body: bytes, stream: int = 1) -> bytes:
    return struct.pack(">BBhBi", version, 0, stream, opcode, len(body)) + body


def _read_frame(sock: socket.socket) -> tuple[int, int, bytes]:
    header = _recv_exactly(sock, 9)
    version, _flags, _stream, opcode, length = struct.unpack(">BBhBi", header)
    return version, opcode, _recv_exactly(sock, length)


def _recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _error_code(body: bytes) -> int:
    code: int = struct.unpack(">i", body[:4])[0]
    return code


def _long_string(text: str) -> bytes:
    return struct.pack(">i", len(text)) + text.encode()


@pytest.fixture
def raw(cql_server: CqlServer) -> Iterator[socket.socket]:
    with socket.create_connection(("127.0.0.1", cql_server.port), timeout=5) as sock:
        yield sock


def _still_serving(server: CqlServer) -> bool:
    cluster = Cluster(["127.0.0.1"], port=server.port, protocol_version=4)
    try:
        key: str = cluster.connect().execute("SELECT key FROM system.local").one().key
        return key == "local"
    finally:
        cluster.shutdown()


def test_an_unsupported_protocol_version_gets_the_downgrade_error(raw: socket.socket) -> None:
    raw.sendall(_frame(0x05, 0x05, b""))
    _, opcode, body = _read_frame(raw)
    assert (opcode, _error_code(body)) == (0x00, 0x000A)
    assert b"unsupported protocol version" in body


def test_an_unknown_opcode_is_an_error_frame_and_the_connection_lives(raw: socket.socket) -> None:
    raw.sendall(_frame(0x04, 0x42, b""))
    assert _error_code(_read_frame(raw)[2]) == 0x000A
    raw.sendall(_frame(0x04, 0x05, b""))  # OPTIONS still answered on the same connection
    assert _read_frame(raw)[1] == 0x06


def test_malformed_bodies_and_cql_get_error_frames(raw: socket.socket) -> None:
    raw.sendall(_frame(0x04, 0x01, b"\x00\x01\x00\x0bCQL_VERSION\x00\x053.0.0"))
    assert _read_frame(raw)[1] == 0x02  # READY
    raw.sendall(_frame(0x04, 0x07, b"\x00\x00\x00\xffSELECT"))  # truncated long string
    assert _error_code(_read_frame(raw)[2]) == 0x000A
    raw.sendall(_frame(0x04, 0x07, _long_string("SELECT FROM WHERE") + b"\x00\x01\x00"))
    assert _error_code(_read_frame(raw)[2]) == 0x2000
    prepare = _long_string("SELECT key FROM system.local WHERE key = ?")
    raw.sendall(_frame(0x04, 0x09, prepare))
    prepared = _read_frame(raw)[2]
    statement_id = prepared[4 : 6 + struct.unpack(">H", prepared[4:6])[0]]
    # EXECUTE with no values for one marker: the wrong bind count
    raw.sendall(_frame(0x04, 0x0A, statement_id + b"\x00\x01\x00"))
    error = _read_frame(raw)[2]
    assert _error_code(error) == 0x2200 and b"1 markers" in error


def test_garbage_and_oversized_frames_close_only_their_connection(cql_server: CqlServer) -> None:
    with socket.create_connection(("127.0.0.1", cql_server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        _, opcode, body = _read_frame(sock)
        assert opcode == 0x00 and _error_code(body) == 0x000A
        assert sock.recv(1) == b"", "the server closes a connection it cannot parse"
    with socket.create_connection(("127.0.0.1", cql_server.port), timeout=5) as sock:
        sock.sendall(struct.pack(">BBhBi", 0x04, 0, 1, 0x07, 512 * 1024 * 1024))
        assert b"too big" in _read_frame(sock)[2]
    assert _still_serving(cql_server)
