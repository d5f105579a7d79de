"""The supervisor and its control API against real processes: a stack of its own (its own
servers, dispatch and an acquirer), so killing and pausing disturbs no other test."""

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devstack.control import ControlClient, ControlServer, serve_control
from devstack.processes import free_port
from devstack.servers import LocalServers
from devstack.stack import NativeStack
from devstack.supervision import ProcessStatus, State
from tests.waiting import eventually

pytestmark = pytest.mark.integration

SERVICES = ["acquirer-a", "dispatch"]


@dataclass
class Supervised:
    stack: NativeStack
    control: ControlServer
    client: ControlClient
    said: list[str]

    def status(self, name: str) -> ProcessStatus:
        return self.client.status(name)[0]

    def readyz(self, name: str) -> int:
        try:
            return httpx.get(f"{self.stack.url(name)}/readyz", timeout=5).status_code
        except httpx.HTTPError:
            return 0

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "devstack", "ctl", "--url", self.control.url, *args],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    async def back(self, name: str, *, restarts: int) -> ProcessStatus:
        """Wait until ``name`` has been started ``restarts`` times and runs again."""

        async def restarted() -> bool:
            status = self.status(name)
            return status.restarts >= restarts and status.state is State.RUNNING

        await eventually(restarted, timeout_s=60, what=lambda: f"{self.status(name)}; {self.said}")
        return self.status(name)

    async def ready(self, name: str) -> None:
        async def answers() -> bool:
            return self.readyz(name) == 200

        await eventually(answers, timeout_s=120, what=f"{name} /readyz 200")


@pytest.fixture(scope="module")
def supervised(devstack_root: Path) -> Iterator[Supervised]:
    servers = LocalServers.create(devstack_root / "supervised")
    servers.start()
    stack = NativeStack.create(servers)
    said: list[str] = []

    def say(line: str) -> None:
        said.append(line)
        print(line, flush=True)

    try:
        stack.start(SERVICES)
        supervisor = stack.supervise(say=say)
        control = serve_control(supervisor, port=0, state_dir=servers.root)
        try:
            yield Supervised(stack, control, ControlClient(control.url), said)
        finally:
            control.close()
    finally:
        stack.unsupervise()
        stack.stop()
        servers.stop()


def test_status_lists_every_process_and_server(supervised: Supervised) -> None:
    statuses = {status.name: status for status in supervised.client.status()}
    assert set(statuses) == {*SERVICES, "postgres", "redis", "redis-b", "kafka", "cql"}
    assert all(status.state is State.RUNNING for status in statuses.values()), statuses
    assert statuses["dispatch"].pid == supervised.stack.processes["dispatch"].pid
    assert "empties" in statuses["kafka"].note and "kept" in statuses["postgres"].note
    table = supervised.ctl("status")
    assert table.returncode == 0, table.stderr
    assert "dispatch" in table.stdout and "running" in table.stdout


async def test_a_killed_service_is_back_and_ready_after_its_backoff(
    supervised: Supervised,
) -> None:
    before = supervised.status("acquirer-a")
    result = supervised.ctl("kill", "acquirer-a")
    assert result.returncode == 0, result.stderr
    assert "restarted after 0.5s backoff" in result.stdout
    after = await supervised.back("acquirer-a", restarts=before.restarts + 1)
    assert after.pid != before.pid
    assert after.last_exit == -9
    await supervised.ready("acquirer-a")
    assert any("acquirer-a exited (SIGKILL)" in line and "restarting in 0.5s" in line
               for line in supervised.said), supervised.said  # fmt: skip
    metrics = supervised.client.metrics()
    assert (f'devstack_process_restarts_total{{process="acquirer-a",kind="service"}} '
            f"{after.restarts}") in metrics  # fmt: skip
    assert 'devstack_process_up{process="acquirer-a",kind="service"} 1' in metrics


async def test_pausing_redis_makes_dispatch_unready_and_resuming_brings_it_back(
    supervised: Supervised,
) -> None:
    await supervised.ready("dispatch")
    before = {status.name: status for status in supervised.client.status()}
    assert supervised.ctl("pause", "redis").returncode == 0
    try:
        assert supervised.status("redis").state is State.PAUSED

        async def unready() -> bool:
            return supervised.readyz("dispatch") == 503

        await eventually(unready, timeout_s=30, what="dispatch /readyz 503 with Redis paused")
    finally:
        resumed = supervised.ctl("resume", "redis")
    assert resumed.returncode == 0 and "resumed redis" in resumed.stdout
    await supervised.ready("dispatch")
    after = {status.name: status for status in supervised.client.status()}
    for name in ("redis", "dispatch"):
        assert after[name].pid == before[name].pid, name
        assert after[name].restarts == before[name].restarts, name
    assert after["redis"].state is State.RUNNING


async def test_a_stopped_process_stays_down_until_started(supervised: Supervised) -> None:
    restarts = supervised.status("acquirer-a").restarts
    assert supervised.client.act("acquirer-a", "stop").startswith("stopped acquirer-a")
    assert supervised.status("acquirer-a").state is State.STOPPED
    # Meanwhile another process goes through a whole backoff and back: the supervisor has
    # looked at the stopped one many times and left it down.
    redis_b = supervised.status("redis-b")
    supervised.client.act("redis-b", "kill")
    await supervised.back("redis-b", restarts=redis_b.restarts + 1)
    stopped = supervised.status("acquirer-a")
    assert stopped.state is State.STOPPED and stopped.pid is None
    assert supervised.readyz("acquirer-a") == 0
    assert supervised.ctl("pause", "acquirer-a").returncode == 1  # nothing to pause
    assert supervised.client.act("acquirer-a", "start") == "starting acquirer-a"
    await supervised.back("acquirer-a", restarts=restarts + 1)
    await supervised.ready("acquirer-a")


async def test_a_killed_server_is_restarted_and_its_dependents_recover(
    supervised: Supervised,
) -> None:
    before = supervised.status("redis")
    supervised.client.act("redis", "kill")
    after = await supervised.back("redis", restarts=before.restarts + 1)
    assert after.pid != before.pid and after.last_exit == -9
    await supervised.ready("dispatch")
    assert supervised.stack.processes["dispatch"].alive


def test_an_unknown_name_or_action_is_a_clear_error(supervised: Supervised) -> None:
    cli = supervised.ctl("kill", "nope")
    assert cli.returncode == 1
    assert "no process named 'nope'" in cli.stderr and "dispatch" in cli.stderr
    api = httpx.post(f"{supervised.control.url}/processes/nope/kill")
    assert api.status_code == 404
    assert "redis-b" in api.json()["error"]["processes"]
    bad = httpx.post(f"{supervised.control.url}/processes/redis/explode")
    assert bad.status_code == 400 and "kill" in bad.json()["error"]["message"]
    # Nothing was done to anything.
    statuses = supervised.client.status()
    assert all(status.state is State.RUNNING for status in statuses), statuses


def test_ctl_says_when_no_runner_answers(tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    cli = subprocess.run(
        [sys.executable, "-m", "devstack", "ctl", "--url", nobody, "status"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert cli.returncode == 1 and "no runner answers" in cli.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "devstack", "ctl", "--data-dir", str(tmp_path), "status"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert missing.returncode == 1 and "control.json" in missing.stderr


def test_ctl_finds_the_runner_through_its_state_file(supervised: Supervised) -> None:
    found = subprocess.run(
        [sys.executable, "-m", "devstack", "ctl", "--data-dir",
         str(supervised.stack.servers.root), "status", "dispatch"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert "dispatch" in found.stdout
