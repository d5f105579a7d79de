"""The local servers are real, reachable, and leave nothing behind."""

import asyncio
import os
import socket
from pathlib import Path

import asyncpg
import pytest
import redis

from devstack.processes import StartupError
from devstack.servers import SERVICE_DATABASES, LocalServers, RedisServer
from stackkit.kafka import EventProducer

pytestmark = pytest.mark.integration


def test_local_servers_start_answer_and_are_removed() -> None:
    servers = LocalServers.create()
    with servers:
        assert redis.Redis.from_url(servers.redis.url).ping()

        async def databases() -> set[str]:
            conn = await asyncpg.connect(servers.postgres.admin_url)
            try:
                return {row[0] for row in await conn.fetch("SELECT datname FROM pg_database")}
            finally:
                await conn.close()

        assert set(SERVICE_DATABASES) <= asyncio.run(databases())

        async def kafka_answers() -> None:
            producer = await EventProducer.start(servers.kafka.bootstrap_servers, timeout_s=10)
            try:
                await producer.check()
            finally:
                await producer.stop()

        asyncio.run(kafka_answers())
        processes = [
            s.process for s in (servers.postgres, servers.redis, servers.kafka, servers.cql)
        ]
        if os.geteuid() == 0:
            postgres = servers.postgres.process
            assert postgres is not None and postgres.popen is not None
            stat = os.stat(f"/proc/{postgres.popen.pid}")
            assert stat.st_uid != 0, "postgres must not run as root"
    assert not servers.root.exists()
    assert all(process is not None and not process.alive for process in processes)
    for port in (servers.postgres.port, servers.redis.port, servers.kafka.port, servers.cql.port):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_a_server_on_a_taken_port_refuses_to_start(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        clash = RedisServer(tmp_path / "redis", port=taken.getsockname()[1])
        with pytest.raises(StartupError, match=r"redis: port \d+ is already in use"):
            clash.start()
        assert clash.process is None
