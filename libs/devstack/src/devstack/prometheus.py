"""Prometheus's configuration, generated from :mod:`devstack.topology`: every process one job.

Two renderings of the same jobs and rules: compose's (``infra/prometheus/prometheus.yml``,
targets ``<service>:8000`` as compose names them, the rules mounted at ``/etc/prometheus/rules``)
and the native runner's (targets ``127.0.0.1:<port>`` of a :class:`~devstack.stack.NativeStack`,
the rules read from the checkout). ``python -m devstack.prometheus`` rewrites compose's file;
``--check`` says whether it is current (tests/contract checks it too).
"""

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devstack.containers.images import service_of
from devstack.topology import PROCESSES, ProcessSpec

if TYPE_CHECKING:
    from devstack.stack import NativeStack

ROOT = Path(__file__).resolve().parents[4]
PROMETHEUS_DIR = ROOT / "infra" / "prometheus"
COMPOSE_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULES_DIR = PROMETHEUS_DIR / "rules"
COMPOSE_RULES_DIR = "/etc/prometheus/rules"
"""Where compose mounts ``infra/prometheus/rules`` in the Prometheus container."""
COMPOSE_PORT = 8000
"""Every process listens on 8000 inside its container."""
SCRAPE_INTERVAL = "5s"
"""Short: the stack is watched while it is broken (infra/flags), not over weeks."""

SPLICED = frozenset({"edge"})
"""Processes whose port splices TCP to another process: the anycast entry answers ``/metrics``
with the nearest PoP's. Scraped for ``up`` alone (its samples dropped), so no PoP counts twice."""

HEADER = (
    "# Generated from devstack.topology by `uv run python -m devstack.prometheus`; do not edit.\n"
    "# One job per process (job = process = the compose service, `service` = its package).\n"
)


def scrape_configs(target: Callable[[ProcessSpec], str]) -> list[dict[str, Any]]:
    """One job per process of the topology, in its order, ``target`` giving its address."""
    jobs = []
    for spec in PROCESSES:
        job: dict[str, Any] = {
            "job_name": spec.name,
            "static_configs": [
                {"targets": [target(spec)],
                 "labels": {"service": service_of(spec), "process": spec.name}}
            ],
        }  # fmt: skip
        if spec.name in SPLICED:
            job["metric_relabel_configs"] = [{"source_labels": ["__name__"], "regex": ".+",
                                              "action": "drop"}]  # fmt: skip
        jobs.append(job)
    return jobs


def prometheus_config(
    target: Callable[[ProcessSpec], str], rule_files: Sequence[str]
) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "rule_files": list(rule_files),
        "scrape_configs": scrape_configs(target),
    }


def compose_config() -> dict[str, Any]:
    return prometheus_config(
        lambda spec: f"{spec.name}:{COMPOSE_PORT}", [f"{COMPOSE_RULES_DIR}/*.yml"]
    )


def native_config(stack: "NativeStack") -> dict[str, Any]:
    """The same jobs for a native stack: its host and ports, the checkout's rules."""
    return prometheus_config(
        lambda spec: f"{stack.host}:{stack.ports[spec.name]}", [str(RULES_DIR / "*.yml")]
    )


def write_native_config(stack: "NativeStack", path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(native_config(stack)))
    return path


def render(config: Mapping[str, Any]) -> str:
    """YAML of plain data (mappings, lists, strings, numbers), block style; every string is a
    JSON string, which YAML reads as itself (no pyyaml at run time for devstack)."""
    return HEADER + "".join(_yaml_lines(config, 0))


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(str(value))


def _yaml_lines(value: object, indent: int) -> list[str]:
    pad = "  " * indent
    if isinstance(value, Mapping):
        lines = []
        for key, item in value.items():
            if _block(item):
                lines += [f"{pad}{key}:\n", *_yaml_lines(item, indent + 1)]
            else:
                lines.append(f"{pad}{key}: {_inline(item)}\n")
        return lines
    if isinstance(value, list):
        lines = []
        for item in value:
            if isinstance(item, Mapping) and item:
                first, *rest = _yaml_lines(item, indent + 1)
                lines += [f"{pad}- {first.lstrip()}", *rest]
            else:
                lines.append(f"{pad}- {_inline(item)}\n")
        return lines
    return [f"{pad}{_scalar(value)}\n"]


def _block(value: object) -> bool:
    """Written on lines of its own: a non-empty mapping, or a list holding collections."""
    if isinstance(value, Mapping):
        return bool(value)
    return isinstance(value, list) and any(isinstance(item, Mapping | list) for item in value)


def _inline(value: object) -> str:
    """Scalars, empty mappings and lists of scalars (a flow list), on the key's line."""
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(item) for item in value) + "]"
    return _scalar(value)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.prometheus", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    wanted = render(compose_config())
    current = COMPOSE_CONFIG.read_text() if COMPOSE_CONFIG.exists() else ""
    if args.check:
        if current != wanted:
            print(f"{COMPOSE_CONFIG} is stale: run `uv run python -m devstack.prometheus`")
            return 1
        return 0
    COMPOSE_CONFIG.parent.mkdir(parents=True, exist_ok=True)
    COMPOSE_CONFIG.write_text(wanted)
    print(f"wrote {COMPOSE_CONFIG.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
