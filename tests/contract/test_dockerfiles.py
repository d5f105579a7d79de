"""Every service image is built the house way, from the one Dockerfile (the service a build
argument), and passes hadolint."""

import re
import subprocess
from pathlib import Path

import pytest
from uvicorn.main import main as uvicorn_main

from devstack.containers.images import SERVICE_DOCKERFILE, SERVICES, service_of
from devstack.topology import PROCESSES
from tests.contract.conftest import VenvTool

ROOT = Path(__file__).resolve().parents[2]
MEMBER_COPY = re.compile(r"^COPY ((?:libs|services)/[\w-]+)/pyproject.toml ")


@pytest.fixture(scope="module")
def text() -> str:
    return SERVICE_DOCKERFILE.read_text()


def _stages(text: str) -> list[str]:
    """The Dockerfile's stages, each from its FROM line to the next."""
    return re.split(r"^(?=FROM )", text, flags=re.MULTILINE)[1:]


def _json_instruction(text: str, instruction: str) -> list[str]:
    """The argv of the last exec-form ``instruction`` (``CMD``) of the Dockerfile."""
    found = re.findall(rf"^{instruction} (\[.*\])$", text, re.MULTILINE)
    assert found, f"no exec-form {instruction}"
    return [arg.strip('"') for arg in re.findall(r'"(?:[^"\\]|\\.)*"', found[-1])]


def test_every_service_is_built_from_the_one_dockerfile() -> None:
    services = sorted(path.name for path in (ROOT / "services").iterdir() if path.is_dir())
    assert sorted(SERVICES) == services
    assert SERVICE_DOCKERFILE == ROOT / "Dockerfile"
    assert sorted(ROOT.glob("services/*/Dockerfile")) == [], "one Dockerfile for every service"


def test_hadolint_passes(venv_tool: type[VenvTool]) -> None:
    result = subprocess.run(
        [venv_tool.path("hadolint"), "--no-color", str(SERVICE_DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_is_multi_stage_non_root_with_a_healthcheck(text: str) -> None:
    assert len(re.findall(r"^FROM ", text, re.MULTILINE)) >= 2
    assert "\nUSER 10001" in text
    assert "\nHEALTHCHECK " in text
    assert '--no-install-workspace --package "${SERVICE}"' in text
    assert '--no-editable --package "${SERVICE}"' in text
    assert "COPY . " not in text, "never copy the whole repository into an image"


def test_the_service_is_a_build_argument_of_every_stage_that_uses_it(text: str) -> None:
    for stage in _stages(text):
        uses = "${SERVICE}" in stage
        declared = re.findall(r"^ARG SERVICE(=\S*)?$", stage, re.MULTILINE)
        assert declared == ([""] if uses else []), stage.splitlines()[0]


def test_a_build_without_a_service_fails_before_anything_is_copied(text: str) -> None:
    build = next(stage for stage in _stages(text) if "${SERVICE}" in stage)
    guard = build.index('RUN test -n "${SERVICE}" || ')
    assert guard < build.index("\nCOPY "), "the guard comes before the first COPY"


def test_the_image_holds_the_services_whole_directory(text: str) -> None:
    """The wheel ships the files beside the code (catalog's schema.cql, chat's page.html, the
    schema.sql files): the whole services/<name> is copied, not only its Python."""
    assert "\nCOPY services/${SERVICE} services/${SERVICE}\n" in text
    for service in SERVICES:
        package = ROOT / "services" / service / "src" / service
        assert package.is_dir(), package


def test_image_copies_every_workspace_members_metadata(text: str) -> None:
    """uv resolves the locked workspace only when every member's pyproject.toml is present."""
    members = {path.parent.relative_to(ROOT).as_posix() for path in ROOT.glob("*/*/pyproject.toml")}
    copied = {match.group(1) for match in map(MEMBER_COPY.match, text.splitlines()) if match}
    assert copied == members


@pytest.mark.parametrize("service", SERVICES)
def test_the_default_command_runs_the_services_main_app(text: str, service: str) -> None:
    """``docker run`` of an image without a command starts the service's main app, the command
    devstack.topology gives a process of that service (edge: a PoP)."""
    uvicorn_app = re.findall(r"\bUVICORN_APP=(\S+)", text)
    assert uvicorn_app == ["${SERVICE}.app:create_app"]
    cmd = _json_instruction(text, "CMD")
    assert cmd[:2] == ["uvicorn", "--factory"]
    default = [*cmd[:2], uvicorn_app[0].replace("${SERVICE}", service), *cmd[2:]]
    commands = [spec.command("0.0.0.0", 8000) for spec in PROCESSES if service_of(spec) == service]
    assert default in commands


def test_uvicorn_reads_its_app_from_uvicorn_app() -> None:
    """What the default command relies on: an exec-form CMD cannot expand a build argument."""
    app = next(param for param in uvicorn_main.params if param.name == "app")
    assert app.envvar == "UVICORN_APP"


def test_the_healthcheck_asks_the_port_the_image_exposes(text: str) -> None:
    assert re.findall(r"^EXPOSE (\d+)$", text, re.MULTILINE) == ["8000"]
    healthcheck = text.partition("\nHEALTHCHECK ")[2].partition("\nCMD ")[0]
    assert "urlopen('http://127.0.0.1:8000/healthz', timeout=2)" in healthcheck
