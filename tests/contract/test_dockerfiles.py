"""Every service image is built the house way and passes hadolint."""

import re
import subprocess
from pathlib import Path

import pytest

from tests.contract.conftest import VenvTool

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted(ROOT.glob("services/*/Dockerfile"))
MEMBER_COPY = re.compile(r"^COPY ((?:libs|services)/[\w-]+)/pyproject.toml ")


def test_every_service_has_a_dockerfile() -> None:
    services = sorted(path.name for path in (ROOT / "services").iterdir() if path.is_dir())
    assert [path.parent.name for path in DOCKERFILES] == services


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.parent.name)
def test_hadolint_passes(dockerfile: Path, venv_tool: type[VenvTool]) -> None:
    result = subprocess.run(
        [venv_tool.path("hadolint"), "--no-color", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.parent.name)
def test_image_is_multi_stage_non_root_with_a_healthcheck(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    service = dockerfile.parent.name
    assert len(re.findall(r"^FROM ", text, re.MULTILINE)) >= 2
    assert "\nUSER 10001" in text
    assert "\nHEALTHCHECK " in text
    assert f"--no-install-workspace --package {service}" in text
    assert f"--no-editable --package {service}" in text
    assert "COPY . " not in text, "never copy the whole repository into an image"


def _recipe(dockerfile: Path) -> str:
    """The Dockerfile with its service's name abstracted, member metadata copies aside."""
    lines = [line for line in dockerfile.read_text().splitlines() if not MEMBER_COPY.match(line)]
    return "\n".join(lines).replace(dockerfile.parent.name, "{service}")


def test_service_images_differ_only_by_the_service_name() -> None:
    """One recipe for every image: a fix to one Dockerfile must reach them all."""
    for dockerfile in DOCKERFILES[1:]:
        assert _recipe(dockerfile) == _recipe(DOCKERFILES[0]), f"{dockerfile} drifted"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.parent.name)
def test_image_copies_every_workspace_members_metadata(dockerfile: Path) -> None:
    """uv resolves the locked workspace only when every member's pyproject.toml is present."""
    members = {path.parent.relative_to(ROOT).as_posix() for path in ROOT.glob("*/*/pyproject.toml")}
    copied = {
        match.group(1)
        for match in map(MEMBER_COPY.match, dockerfile.read_text().splitlines())
        if match
    }
    assert copied == members
