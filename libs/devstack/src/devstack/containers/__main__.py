"""``python -m devstack.containers build``: build the images docker-compose.local.yml runs (and
the service images) with the engine at hand, and keep them, for a compose stack by hand."""

import argparse
import tempfile
from pathlib import Path

from devstack.containers.engine import open_engine
from devstack.containers.images import ImageBuilder


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.containers")
    parser.add_argument("command", choices=["build"])
    parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rwa-containers-") as workdir:
        engine = open_engine(Path(workdir))
        try:
            report = ImageBuilder(engine, Path(workdir)).build_all()
        finally:
            engine.stop()
    print("\n".join(report.lines()))


if __name__ == "__main__":
    main()
