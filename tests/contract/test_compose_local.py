"""docker-compose.local.yml (the stand-ins) and the test-containers overrides stay honest: they
swap only the backing servers' images, for images this repository builds, and keep every
healthcheck compose waits on."""

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from devstack.containers.images import (
    INFRA,
    SERVICE_DOCKERFILE,
    service_builds,
    stand_in_builds,
)
from devstack.containers.stack import COMPOSE_FILES
from tests.contract.conftest import VenvTool
from tests.contract.test_compose import BACKING_SERVERS, FLAG_READERS, FLAG_SERVER

ROOT = Path(__file__).resolve().parents[2]
LOCAL_FILE = ROOT / "docker-compose.local.yml"
INFRA_DOCKERFILES = sorted(INFRA.glob("*.Dockerfile"))


def _config(venv_tool: type[VenvTool], *files: Path) -> dict[str, Any]:
    argv = [venv_tool.path("docker-compose")]
    for path in files:
        argv += ["-f", str(path)]
    result = subprocess.run(
        [*argv, "config", "--format", "json"], capture_output=True, text=True, cwd=ROOT,
        timeout=60, env={"PATH": "/usr/bin:/bin", "RWA_EDGE_PORT": "18080"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


@pytest.fixture(scope="module")
def base(venv_tool: type[VenvTool]) -> dict[str, Any]:
    return _config(venv_tool, ROOT / "docker-compose.yml")


@pytest.fixture(scope="module")
def local(venv_tool: type[VenvTool]) -> dict[str, Any]:
    return _config(venv_tool, ROOT / "docker-compose.yml", LOCAL_FILE)


@pytest.fixture(scope="module")
def under_test(venv_tool: type[VenvTool]) -> dict[str, Any]:
    return _config(venv_tool, *COMPOSE_FILES)


def test_the_override_replaces_the_backing_servers_images_only(
    base: dict[str, Any], local: dict[str, Any]
) -> None:
    changed = {name for name, svc in local["services"].items() if svc != base["services"][name]}
    assert changed - FLAG_READERS == BACKING_SERVERS
    # flagd's image may not be pullable either: it is left out (a profile nothing starts).
    assert set(local["services"]) == set(base["services"]) - {FLAG_SERVER}


@pytest.mark.parametrize("name", sorted(FLAG_READERS))
def test_in_place_of_flagd_each_service_reads_the_flag_file(
    base: dict[str, Any], local: dict[str, Any], name: str
) -> None:
    """The native runner's way: the same file, evaluated in-process; nothing else changes."""
    service, original = local["services"][name], base["services"][name]
    assert service["environment"] == original["environment"] | {
        "FLAGD_RESOLVER": "file", "FLAGD_OFFLINE_FLAG_SOURCE_PATH": "/etc/flagd/flags.flagd.json",
    }  # fmt: skip
    mounts = [(v["source"], v["target"], v.get("read_only")) for v in service["volumes"]]
    assert mounts == [(str(ROOT / "infra" / "flags"), "/etc/flagd", True)]
    rest = {"environment", "volumes"}
    assert {k: v for k, v in service.items() if k not in rest} == {
        k: v for k, v in original.items() if k not in rest
    }


def test_every_stand_in_is_an_image_this_repository_builds(local: dict[str, Any]) -> None:
    built = {build.tag for build in stand_in_builds(INFRA)}
    assert {local["services"][name]["image"] for name in BACKING_SERVERS} == built


def test_the_service_images_are_the_ones_the_builder_tags(base: dict[str, Any]) -> None:
    images = {svc["image"] for name, svc in base["services"].items() if "build" in svc}
    assert images == {build.tag for build in service_builds()}


def test_every_stand_in_keeps_a_healthcheck(local: dict[str, Any]) -> None:
    for name in BACKING_SERVERS:
        assert local["services"][name]["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL"}, name


def test_under_test_only_the_edge_is_published_and_only_on_loopback(
    under_test: dict[str, Any],
) -> None:
    published = {name: svc["ports"] for name, svc in under_test["services"].items()
                 if svc.get("ports")}  # fmt: skip
    assert list(published) == ["edge"]
    assert published["edge"] == [{"mode": "ingress", "host_ip": "127.0.0.1", "target": 8000,
                                  "published": "18080", "protocol": "tcp"}]  # fmt: skip


@pytest.mark.parametrize("dockerfile", INFRA_DOCKERFILES, ids=lambda path: path.stem)
def test_stand_in_dockerfiles_pass_hadolint(dockerfile: Path, venv_tool: type[VenvTool]) -> None:
    result = subprocess.run(
        [venv_tool.path("hadolint"), "--no-color", str(dockerfile)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "dockerfile", [*INFRA_DOCKERFILES, SERVICE_DOCKERFILE],
    ids=lambda path: "services" if path == SERVICE_DOCKERFILE else path.stem,
)  # fmt: skip
def test_bases_are_build_arguments_defaulting_to_the_official_images(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    defaults = dict(re.findall(r"^ARG (\w+_IMAGE)=(\S+)$", text, re.MULTILINE))
    for image in re.findall(r"^FROM (\S+)", text, re.MULTILINE):
        if image == "scratch":
            continue
        assert image.startswith("${") and image.strip("${}") in defaults, image
    assert set(defaults.values()) <= {"python:3.11-slim-bookworm", "debian:bookworm-slim",
                                      "ghcr.io/astral-sh/uv:0.13.9"}  # fmt: skip


@pytest.mark.parametrize("dockerfile", INFRA_DOCKERFILES, ids=lambda path: path.stem)
def test_stand_ins_run_as_a_non_root_user(dockerfile: Path) -> None:
    users = re.findall(r"^USER (\d+)", dockerfile.read_text(), re.MULTILINE)
    if dockerfile.stem in {"python", "uv"}:  # bases, like the official ones they stand in for
        assert users == []
    else:
        assert users and users[-1] != "0"


def test_no_healthcheck_argument_holds_a_space(local: dict[str, Any]) -> None:
    """Podman 4.3's Docker API splits every CMD argument at its spaces (``python -c "import x;
    ..."`` becomes ``python -c import x; ...``: a SyntaxError, the container never healthy);
    a command that needs spaces goes through CMD-SHELL, which both engines keep whole."""
    for name, svc in local["services"].items():
        kind, *argv = svc["healthcheck"]["test"]
        if kind == "CMD":
            assert not [arg for arg in argv if any(c.isspace() for c in arg)], name


def test_every_service_runs_on_a_read_only_root(base: dict[str, Any]) -> None:
    for name, svc in base["services"].items():
        if "build" in svc:
            assert svc.get("read_only") is True, name
            assert svc.get("tmpfs") == ["/tmp"], name
