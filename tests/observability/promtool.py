"""Prometheus and promtool for the tests: Debian's ``prometheus`` package, installed once with
apt when missing (as ``make prometheus-tools`` does). Skipped, with the reason, only where it
cannot be installed (not root, or no apt-get) and never in CI, where that is a failure."""

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass

import pytest

PACKAGE = "prometheus"


@dataclass(frozen=True)
class PrometheusTools:
    promtool: str
    prometheus: str

    def promtool_run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.promtool, *args], capture_output=True, text=True, timeout=120, check=False
        )


def _found() -> PrometheusTools | None:
    promtool, prometheus = shutil.which("promtool"), shutil.which("prometheus")
    return PrometheusTools(promtool, prometheus) if promtool and prometheus else None


@functools.cache
def _install() -> PrometheusTools | str:
    """The tools, or why they cannot be had here."""
    if (found := _found()) is not None:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return (
            "promtool is not installed and cannot be here (not root, or no apt-get): as root on"
            " Debian `make prometheus-tools` installs Debian's prometheus package"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"],
                 ["apt-get", "install", "-y", "-qq", "--no-install-recommends", PACKAGE]):  # fmt: skip
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            return f"{' '.join(argv)} failed: {done.stderr[-2000:]}"
    return _found() or f"apt-get installed {PACKAGE}, yet promtool or prometheus is not on PATH"


def prometheus_tools() -> PrometheusTools:
    """The tools, installing them if need be; else skip (fail under CI) saying why."""
    tools = _install()
    if isinstance(tools, PrometheusTools):
        return tools
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the Prometheus contract tests: {tools}")
    pytest.skip(tools)
