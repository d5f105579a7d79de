"""Every image the compose stack runs, built one at a time (two cores are shared with others).

Under podman (no registry here) the bases are local: a Debian root from ``debootstrap`` turned
into an image, then stand-ins for ``python:3.11-slim-bookworm`` and the uv image, passed to the
Dockerfiles as build arguments. Under Docker the Dockerfiles' defaults (the official images)
are used. Either way the stand-ins for the backing servers are built from infra/containers, and
every service from the one Dockerfile at the repository root, the service a build argument.
"""

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from devstack.binaries import kafka_broker_binary
from devstack.containers.engine import ROOT, Engine
from devstack.topology import PROCESSES, ProcessSpec

INFRA = ROOT / "infra" / "containers"
SERVICE_DOCKERFILE = ROOT / "Dockerfile"
"""The one Dockerfile of every service image; ``SERVICE`` (a directory of services/) says which."""
LOCAL_DEBIAN = "localhost/rwa-local/debian:bookworm"
LOCAL_PYTHON = "localhost/rwa-local/python:3.11"
LOCAL_UV = "localhost/rwa-local/uv:0.13.9"
CA_IN_BUILD = "/run/rwa-build-ca.pem"
"""Where a build step sees the machine's CA bundle (mounted, never copied into a layer)."""


@dataclass(frozen=True)
class ImageBuild:
    tag: str
    dockerfile: Path
    context: Path
    build_args: dict[str, str] = field(default_factory=dict, hash=False)
    """This image's own ``--build-arg``s (a service image's ``SERVICE``), beside the bases'."""


@dataclass
class BuildReport:
    """Seconds each image took and the size it came out at, in build order."""

    seconds: dict[str, float] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        return [
            f"{tag:<52} {self.seconds[tag]:6.1f} s  {self.sizes.get(tag, 0) / 1e6:7.1f} MB"
            for tag in self.seconds
        ]


def service_of(spec: ProcessSpec) -> str:
    """The workspace package (``services/<name>``) whose image runs the process: the top-level
    module of its app (``payments.acquirer:create_app`` and ``edge.anycast`` -> payments, edge)."""
    return spec.app.partition(":")[0].partition(".")[0]


SERVICES = tuple(dict.fromkeys(service_of(spec) for spec in PROCESSES))
"""Every service image, in the order devstack.topology first names a process of it."""


def service_image(service: str) -> str:
    """The tag docker-compose.yml gives the service's image."""
    return f"real-world-architectures/{service}:dev"


def stand_in_builds(kafka_context: Path) -> list[ImageBuild]:
    return [
        ImageBuild("real-world-architectures/redis-local:dev", INFRA / "redis.Dockerfile", INFRA),
        ImageBuild(
            "real-world-architectures/postgres-local:dev", INFRA / "postgres.Dockerfile", INFRA
        ),
        ImageBuild(
            "real-world-architectures/kafka-local:dev", INFRA / "kafka.Dockerfile", kafka_context
        ),
        ImageBuild("real-world-architectures/cql-local:dev", INFRA / "cql.Dockerfile", ROOT),
    ]


BASE_IMAGES = (LOCAL_DEBIAN, LOCAL_PYTHON, LOCAL_UV,
               *(build.tag for build in stand_in_builds(INFRA)))  # fmt: skip
"""What a developer may keep between runs: only the service images change with the code."""


def service_builds() -> list[ImageBuild]:
    return [
        ImageBuild(service_image(name), SERVICE_DOCKERFILE, ROOT, build_args={"SERVICE": name})
        for name in SERVICES
    ]


def _kafka_context(workdir: Path) -> Path:
    """A build context holding the Tansu binary the native stack runs (from its wheel)."""
    context = workdir / "kafka-context"
    context.mkdir(parents=True, exist_ok=True)
    shutil.copy2(kafka_broker_binary(), context / "tansu")
    return context


def _debian_root_image(engine: Engine, workdir: Path) -> None:
    """debootstrap a minimal bookworm and import it: the root every local base starts from."""
    root = Path(tempfile.mkdtemp(prefix="debian-root-", dir=workdir))
    try:
        subprocess.run(
            ["nice", "-n", "19", "debootstrap", "--variant=minbase", "bookworm", str(root),
             os.environ.get("RWA_DEBIAN_MIRROR", "http://deb.debian.org/debian")],
            check=True, capture_output=True, timeout=900,
        )  # fmt: skip
        # What an official slim image leaves out too: package caches, lists, docs.
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc",
                         "usr/share/man", "usr/share/info", "usr/share/locale"):  # fmt: skip
            for entry in (root / leftover).glob("*"):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                elif entry.name != "lock":
                    entry.unlink()
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            ["podman", "import", "--change", 'CMD ["bash"]', "-", LOCAL_DEBIAN],
            stdin=tar.stdout, env=engine.env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        tar.wait()
        if imported.returncode != 0 or tar.returncode != 0:
            raise RuntimeError(f"podman import failed: {imported.stderr}")
    finally:
        # debootstrap mounts /proc (and /sys) in the root while it works; an interrupted run
        # leaves them mounted, and nothing under a live /proc may be walked for removal.
        for mount in ("proc", "sys"):
            subprocess.run(["umount", "--recursive", "--lazy", str(root / mount)],
                           capture_output=True, check=False)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


class ImageBuilder:
    """Builds with the engine's own CLI: podman's ``-v`` is how a build step reaches the CA
    bundle of a TLS-intercepting network, which compose's build API cannot pass."""

    def __init__(self, engine: Engine, workdir: Path, *, reuse_bases: bool = False) -> None:
        self.engine = engine
        self.workdir = workdir
        self.report = BuildReport()
        self.args: dict[str, str] = {}
        self.reuse_bases = reuse_bases
        """Keep local bases and stand-ins that already exist (a developer's inner loop; CI
        builds everything from nothing)."""

    def _exists(self, tag: str) -> bool:
        return self.engine.cli("image", "exists" if self.engine.kind == "podman" else "inspect",
                               tag, check=False).returncode == 0  # fmt: skip

    def _argv(self, build: ImageBuild) -> list[str]:
        argv = ["build", "--tag", build.tag, "--file", str(build.dockerfile)]
        for name, value in {**self.args, **build.build_args}.items():
            argv += ["--build-arg", f"{name}={value}"]
        if self.engine.kind == "podman":
            # --format docker keeps HEALTHCHECK (OCI images drop it); --network host reaches the
            # Debian mirror and PyPI. Not --layers=false: podman 4.3 then deletes, as a
            # "intermediate image", a base that a stage only names (FROM uv AS uv).
            argv += ["--pull=never", "--format", "docker", "--network", "host"]
            ca_bundle = os.environ.get("SSL_CERT_FILE")
            if ca_bundle and Path(ca_bundle).is_file():
                argv += ["--volume", f"{ca_bundle}:{CA_IN_BUILD}:ro",
                         "--build-arg", f"SSL_CERT_FILE={CA_IN_BUILD}"]  # fmt: skip
        return [*argv, str(build.context)]

    def build(self, build: ImageBuild) -> None:
        started = time.monotonic()
        where = build.dockerfile
        shown = where.relative_to(ROOT) if where.is_relative_to(ROOT) else where
        own_args = "".join(f", {name}={value}" for name, value in build.build_args.items())
        print(f"building {build.tag} ({shown}{own_args})", flush=True)
        self.engine.cli(*self._argv(build), timeout_s=1200, nice=True)
        self.report.seconds[build.tag] = time.monotonic() - started
        self._record_size(build.tag)

    def _record_size(self, tag: str) -> None:
        size = self.engine.cli("image", "inspect", "--format", "{{.Size}}", tag).stdout
        self.report.sizes[tag] = int(size.strip() or 0)

    def build_bases(self) -> None:
        """Local stand-ins for the official bases (podman: no registry to pull them from)."""
        if self.engine.kind != "podman":
            return
        if not (self.reuse_bases and self._exists(LOCAL_DEBIAN)):
            started = time.monotonic()
            print(f"building {LOCAL_DEBIAN} (debootstrap)", flush=True)
            _debian_root_image(self.engine, self.workdir)
            self.report.seconds[LOCAL_DEBIAN] = time.monotonic() - started
            self._record_size(LOCAL_DEBIAN)
        self.args["DEBIAN_IMAGE"] = LOCAL_DEBIAN
        self._build_base(ImageBuild(LOCAL_PYTHON, INFRA / "python.Dockerfile", INFRA))
        self.args["PYTHON_IMAGE"] = LOCAL_PYTHON
        self._build_base(ImageBuild(LOCAL_UV, INFRA / "uv.Dockerfile", INFRA))
        self.args["UV_IMAGE"] = LOCAL_UV

    def _build_base(self, build: ImageBuild) -> None:
        if not (self.reuse_bases and self._exists(build.tag)):
            self.build(build)

    def build_all(self) -> BuildReport:
        self.build_bases()
        for build in stand_in_builds(_kafka_context(self.workdir)):
            self._build_base(build)
        for build in service_builds():
            self.build(build)
        return self.report
