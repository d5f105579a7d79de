"""``make run``'s Prometheus (devstack.observing): supervised like the local servers, and a
line saying how to get it when the binary is missing (the stack starts without it)."""

from pathlib import Path

import httpx
import pytest

from devstack import observing
from devstack.stack import NativeStack
from devstack.supervision import Backoff, State
from devstack.supervisor import Supervisor
from tests.observability.promtool import prometheus_tools
from tests.waiting import eventually

pytestmark = pytest.mark.e2e


async def test_a_killed_prometheus_is_started_again_with_its_samples(
    native_stack: NativeStack, tmp_path: Path
) -> None:
    prometheus_tools()
    server = observing.prometheus_for(native_stack, data_dir=tmp_path / "prometheus")
    assert "--enable-feature=exemplar-storage" in server.argv()
    server.start()
    said: list[str] = []
    supervisor = Supervisor(backoff=Backoff(initial_s=0.1), say=said.append)
    supervisor.add(server.target())
    supervisor.start()
    try:
        assert server.process is not None
        first = server.process.pid
        print(supervisor.act("prometheus", "kill"))

        async def back() -> bool:
            [status] = supervisor.status("prometheus")
            if status.state is not State.RUNNING or status.pid == first:
                return False
            async with httpx.AsyncClient(timeout=2) as client:
                try:
                    response = await client.get(f"{server.url}/-/ready")
                except httpx.HTTPError:
                    return False
            return response.status_code == 200

        await eventually(back, timeout_s=60, what=lambda: f"prometheus restarted: {said}")
        [status] = supervisor.status("prometheus")
        assert status.restarts == 1 and status.last_exit == -9 and status.kind == "server"
    finally:
        supervisor.close()
        server.stop()


def test_without_the_binary_run_says_how_to_get_it(
    native_stack: NativeStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    said = observing.start_for_run(native_stack, default_port=False)
    assert said == observing.MISSING_HINT
    assert "make prometheus-tools" in said
