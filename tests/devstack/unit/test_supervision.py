"""The supervisor's pure parts: the backoff, and the status as JSON, table and metrics."""

from devstack.supervision import Backoff, ProcessStatus, State, render_metrics, render_table


def _status(name: str, state: State, **changes: object) -> ProcessStatus:
    fields: dict[str, object] = {
        "name": name, "kind": "service", "state": state, "pid": 42, "port": 8002,
        "restarts": 0, "last_exit": None, "uptime_s": 3.0, "restart_in_s": None,
    }  # fmt: skip
    return ProcessStatus(**(fields | changes))  # type: ignore[arg-type]


def test_backoff_doubles_from_half_a_second_to_thirty() -> None:
    backoff = Backoff()
    assert [backoff.delay_s(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]


def test_status_round_trips_through_json() -> None:
    status = _status("redis", State.PAUSED, kind="server", note="in memory")
    assert ProcessStatus.from_json(status.to_json()) == status
    assert status.to_json()["state"] == "paused"


def test_metrics_say_up_paused_and_restarts_per_process() -> None:
    text = render_metrics([
        _status("dispatch", State.RUNNING, restarts=2),
        _status("redis", State.PAUSED, kind="server"),
        _status("acquirer-a", State.STOPPED, pid=None, uptime_s=None, last_exit=-15),
    ])  # fmt: skip
    assert 'devstack_process_up{process="dispatch",kind="service"} 1' in text
    assert 'devstack_process_up{process="redis",kind="server"} 0' in text
    assert 'devstack_process_paused{process="redis",kind="server"} 1' in text
    assert 'devstack_process_restarts_total{process="dispatch",kind="service"} 2' in text
    assert 'devstack_process_uptime_seconds{process="acquirer-a",kind="service"} 0.0' in text
    assert "# TYPE devstack_process_restarts_total counter" in text


def test_the_table_shows_state_exit_and_notes() -> None:
    table = render_table([
        _status("dispatch", State.BACKOFF, pid=None, uptime_s=None, last_exit=-9,
                restart_in_s=0.4, restarts=1),
        _status("kafka", State.RUNNING, kind="server", note="a restart empties it"),
    ])  # fmt: skip
    dispatch = next(line for line in table.splitlines() if line.startswith("dispatch"))
    assert "backoff (0.4s)" in dispatch and "SIGKILL" in dispatch
    assert "kafka: a restart empties it" in table
