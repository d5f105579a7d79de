"""`make run` (python -m devstack run): one command brings the stack up; Ctrl-C takes it down."""

import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from devstack.control import ControlClient
from devstack.processes import port_open, wait_until
from devstack.supervision import State
from devstack.topology import PROCESSES

pytestmark = pytest.mark.e2e


def test_the_native_runner_starts_everything_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    output = tmp_path / "run.log"
    with open(output, "wb") as log:
        runner = subprocess.Popen(
            [sys.executable, "-m", "devstack", "run", "--free-ports"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(
            lambda: "Ctrl-C stops everything" in output.read_text() or runner.poll() is not None,
            timeout_s=120,
            what="the runner to report ready",
        )
        text = output.read_text()
        assert runner.poll() is None, text
        ready = re.search(r"ready in ([\d.]+)s", text)
        assert ready, text
        print(f"native stack ready in {ready.group(1)}s")
        edge_url = re.search(r"edge \(one port reaches everything\)\s+(\S+)", text)
        logs_dir = re.search(r"logs in (\S+)", text)
        assert edge_url and logs_dir, text
        for route in ("catalog", "dispatch", "chat", "payments"):
            assert httpx.get(f"{edge_url.group(1)}/{route}/readyz").status_code == 200
        ports = [int(port) for port in re.findall(r"http://127\.0\.0\.1:(\d+)", text)]
        ports += [int(port) for port in re.findall(r"127\.0\.0\.1:(\d+)\s*$", text, re.M)]
        assert len(ports) >= 10, text
        # Supervised: a killed process comes back on its own, said in the runner's output.
        control = re.search(r"control API\s+(\S+)/processes", text)
        assert control, text
        client = ControlClient(control.group(1))
        assert "acquirer-b" in client.act("acquirer-b", "kill")
        wait_until(
            lambda: (
                client.status("acquirer-b")[0].restarts == 1
                and client.status("acquirer-b")[0].state is State.RUNNING
            ),
            timeout_s=60,
            what="acquirer-b started again by the supervisor",
        )
        assert "supervisor: acquirer-b exited (SIGKILL)" in output.read_text()
    finally:
        runner.send_signal(signal.SIGINT)
        exit_code = runner.wait(60)
    assert exit_code == 0, output.read_text()
    assert "stopped. logs kept in" in output.read_text()
    kept = Path(logs_dir.group(1))
    assert (kept / "edge.log").stat().st_size > 0, "what the processes said outlives the run"
    assert [entry.name for entry in kept.parent.iterdir()] == ["logs"], "server data is removed"
    assert [port for port in ports if port_open(port)] == []


def test_a_second_stack_on_taken_default_ports_says_how_to_run_beside_it() -> None:
    # Hold the edge's documented port unless something (another stack) already does.
    edge_port = next(spec.default_port for spec in PROCESSES if spec.name == "edge")
    holder = socket.socket()
    if not port_open(edge_port):
        holder.bind(("127.0.0.1", edge_port))
        holder.listen()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "devstack", "run"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        holder.close()
    assert result.returncode == 1
    assert f"edge {edge_port}" in result.stderr
    assert "make run ARGS=--free-ports" in result.stderr
    assert "starting local servers" not in result.stdout, "fails before starting anything"
