"""The code model: every ``domain/`` package is pure logic over plain data.

A domain module must not import a web framework, a database or broker driver or an HTTP
client, neither directly nor through a first-party module it imports (``stackkit.errors`` once
imported FastAPI, so every domain raising ``Invalid`` imported a web framework). The walk reads
sources with :mod:`ast` (nothing is imported or executed), follows first-party modules (the
workspace's ``libs/*/src/*`` and ``services/*/src/*`` packages) and stops at third-party ones.
"""

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = frozenset(
    {"fastapi", "starlette", "asyncpg", "redis", "aiokafka", "cassandra", "httpx"}
)


def first_party_packages(repo: Path) -> dict[str, Path]:
    """Top-level package name -> its directory, for every workspace member's ``src``."""
    packages = {}
    for pattern in ("libs/*/src/*/__init__.py", "services/*/src/*/__init__.py"):
        for init in repo.glob(pattern):
            packages[init.parent.name] = init.parent
    return packages


@dataclass(frozen=True)
class ModuleGraph:
    """Resolves dotted names to first-party source files and reads their imports."""

    packages: dict[str, Path]

    def path_of(self, module: str) -> Path | None:
        """The source of a first-party module or package; None for anything else."""
        top, *rest = module.split(".")
        root = self.packages.get(top)
        if root is None:
            return None
        base = root.joinpath(*rest)
        for candidate in (base / "__init__.py", base.with_suffix(".py")):
            if candidate.is_file():
                return candidate
        return None

    def name_of(self, path: Path) -> str:
        for top, root in self.packages.items():
            if path.is_relative_to(root):
                parts = [top, *path.relative_to(root).with_suffix("").parts]
                return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        raise ValueError(f"{path} is not first-party")

    def imports_of(self, module: str) -> set[str]:
        """Every module that importing ``module`` runs first: what its source imports, by
        absolute dotted name, with the packages each import loads on the way (``import a.b.c``
        runs ``a`` and ``a.b``), and the packages ``module`` itself sits in. Imports
        under ``if TYPE_CHECKING`` count too: a domain should not even name a driver's types."""
        path = self.path_of(module)
        assert path is not None, module
        is_package = path.name == "__init__.py"
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(module, is_package, node.level, node.module)
                names.add(base)
                # `from pkg import name`: name may be a submodule, which then runs too.
                names.update(
                    f"{base}.{alias.name}"
                    for alias in node.names
                    if self.path_of(f"{base}.{alias.name}") is not None
                )
        names.update(_with_parents(module))  # importing a module runs its packages first
        names.discard(module)
        return {parent for name in names for parent in _with_parents(name)} - {module}

    def violations(self, module: str, forbidden: frozenset[str]) -> list[list[str]]:
        """Import chains from ``module`` to a forbidden package, one (the shortest found) for
        each forbidden module reached; a breadth-first walk over first-party modules."""
        chains: dict[str, list[str]] = {}
        seen = {module}
        queue = [[module]]
        while queue:
            chain = queue.pop(0)
            for imported in sorted(self.imports_of(chain[-1])):
                top = imported.split(".")[0]
                if top in forbidden:
                    chains.setdefault(top, [*chain, imported])
                elif self.path_of(imported) is not None and imported not in seen:
                    seen.add(imported)
                    queue.append([*chain, imported])
        return [chains[top] for top in sorted(chains)]


def _absolute(module: str, is_package: bool, level: int, name: str | None) -> str:
    if level == 0:
        assert name is not None
        return name
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, name] if name else base)


def _with_parents(name: str) -> Iterator[str]:
    parts = name.split(".")
    for end in range(1, len(parts) + 1):
        yield ".".join(parts[:end])


def domain_modules(graph: ModuleGraph) -> list[str]:
    """Every module under a service's ``domain/`` package."""
    return sorted(
        graph.name_of(path)
        for root in graph.packages.values()
        for path in (root / "domain").rglob("*.py")
    )


GRAPH = ModuleGraph(first_party_packages(REPO))
DOMAIN_MODULES = domain_modules(GRAPH)
# The stackkit modules a domain builds on: they are held to the same rule on their own, so a
# regression names the shared module rather than only every domain that reaches it.
SHARED_BY_DOMAINS = ["stackkit.errors", "stackkit.statemachine"]


def test_every_service_has_a_domain_package_and_the_walk_finds_them() -> None:
    services = {path.parent.name for path in REPO.glob("services/*/src/*/__init__.py")}
    assert services == {"catalog", "chat", "dispatch", "edge", "payments"}
    assert {module.split(".")[0] for module in DOMAIN_MODULES} == services
    assert "payments.domain.errors" in DOMAIN_MODULES
    assert "edge.domain" in DOMAIN_MODULES  # the package's __init__ runs first: it counts


@pytest.mark.parametrize("module", DOMAIN_MODULES + SHARED_BY_DOMAINS)
def test_domain_code_imports_no_framework_driver_or_http_client(module: str) -> None:
    chains = GRAPH.violations(module, FORBIDDEN)
    assert not chains, "\n".join(" -> ".join(chain) for chain in chains)


# -- the walk itself, on a made-up workspace --------------------------------------------------


def _workspace(tmp_path: Path, files: dict[str, str]) -> ModuleGraph:
    for relative, source in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return ModuleGraph(first_party_packages(tmp_path))


def test_finds_first_party_packages_of_libs_and_services_only(tmp_path: Path) -> None:
    graph = _workspace(
        tmp_path,
        {
            "libs/kit/src/kit/__init__.py": "",
            "services/shop/src/shop/__init__.py": "",
            "services/shop/src/not_a_package/module.py": "",
            "tools/script/src/tool/__init__.py": "",
        },
    )
    assert set(graph.packages) == {"kit", "shop"}


def test_resolves_modules_packages_and_names(tmp_path: Path) -> None:
    graph = _workspace(
        tmp_path,
        {
            "services/shop/src/shop/__init__.py": "",
            "services/shop/src/shop/domain/__init__.py": "",
            "services/shop/src/shop/domain/cart.py": "",
        },
    )
    root = tmp_path / "services/shop/src/shop"
    assert graph.path_of("shop") == root / "__init__.py"
    assert graph.path_of("shop.domain") == root / "domain/__init__.py"
    assert graph.path_of("shop.domain.cart") == root / "domain/cart.py"
    assert graph.path_of("shop.domain.missing") is None
    assert graph.path_of("fastapi") is None
    assert graph.name_of(root / "domain/cart.py") == "shop.domain.cart"
    assert graph.name_of(root / "domain/__init__.py") == "shop.domain"
    with pytest.raises(ValueError):
        graph.name_of(tmp_path / "elsewhere.py")
    assert domain_modules(graph) == ["shop.domain", "shop.domain.cart"]


def test_reads_every_import_form(tmp_path: Path) -> None:
    graph = _workspace(
        tmp_path,
        {
            "services/shop/src/shop/__init__.py": "",
            "services/shop/src/shop/domain/__init__.py": "",
            "services/shop/src/shop/domain/cart.py": "",
            "services/shop/src/shop/domain/prices.py": "",
            "services/shop/src/shop/domain/rules/__init__.py": "from . import limits\n",
            "services/shop/src/shop/domain/rules/limits.py": "",
            "services/shop/src/shop/domain/checkout.py": (
                "import os.path\n"
                "from typing import TYPE_CHECKING\n"
                "from . import cart\n"
                "from .prices import Price\n"
                "from ..domain.rules import limits as caps\n"
                "from shop.domain import rules\n"
                "if TYPE_CHECKING:\n"
                "    import asyncpg\n"
                "def later():\n"
                "    import redis.asyncio\n"
            ),
        },
    )
    assert graph.imports_of("shop.domain.checkout") == {
        "os",
        "os.path",
        "typing",
        "shop",
        "shop.domain",
        "shop.domain.cart",
        "shop.domain.prices",
        "shop.domain.rules",
        "shop.domain.rules.limits",
        "asyncpg",
        "redis",
        "redis.asyncio",
    }
    # A package importing its own submodule: the package itself is not its own import.
    assert graph.imports_of("shop.domain.rules") == {
        "shop",
        "shop.domain",
        "shop.domain.rules.limits",
    }


def test_follows_first_party_modules_and_stops_at_third_party(tmp_path: Path) -> None:
    graph = _workspace(
        tmp_path,
        {
            "libs/kit/src/kit/__init__.py": "",
            "libs/kit/src/kit/errors.py": "from kit.web import handlers\n",
            "libs/kit/src/kit/web.py": "from fastapi import FastAPI\nimport starlette.types\n",
            "libs/kit/src/kit/pure.py": "import dataclasses\n",
            "services/shop/src/shop/__init__.py": "",
            "services/shop/src/shop/domain/__init__.py": "",
            "services/shop/src/shop/domain/cart.py": "from kit.errors import Invalid\n",
            "services/shop/src/shop/domain/clean.py": "from kit import pure\nimport pydantic\n",
            # pydantic is third-party and allowed: the walk does not look inside it.
        },
    )
    assert graph.violations("shop.domain.cart", FORBIDDEN) == [
        ["shop.domain.cart", "kit.errors", "kit.web", "fastapi"],
        ["shop.domain.cart", "kit.errors", "kit.web", "starlette"],
    ]
    assert graph.violations("shop.domain.clean", FORBIDDEN) == []


def test_a_package_init_on_the_way_counts(tmp_path: Path) -> None:
    graph = _workspace(
        tmp_path,
        {
            "services/shop/src/shop/__init__.py": "import httpx\n",
            "services/shop/src/shop/domain/__init__.py": "",
            "services/shop/src/shop/domain/cart.py": "",
        },
    )
    assert graph.violations("shop.domain.cart", FORBIDDEN) == [
        ["shop.domain.cart", "shop", "httpx"]
    ]


def test_import_cycles_end(tmp_path: Path) -> None:
    graph = _workspace(
        tmp_path,
        {
            "libs/kit/src/kit/__init__.py": "",
            "libs/kit/src/kit/a.py": "from kit import b\n",
            "libs/kit/src/kit/b.py": "from kit import a\nimport aiokafka\n",
        },
    )
    assert graph.violations("kit.a", FORBIDDEN) == [["kit.a", "kit.b", "aiokafka"]]
