"""The compose stack on a container engine, for `make test-containers` only: it builds every
image and takes minutes, so plain `pytest` skips this directory unless RWA_CONTAINERS=1."""

import os
from collections.abc import Iterator

import pytest

from devstack.containers.stack import ContainerStack, container_stack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.environ.get("RWA_CONTAINERS") == "1":
        return
    skip = pytest.mark.skip(reason="builds and runs every image: make test-containers")
    for item in items:
        if "tests/containers/" in item.nodeid and "test_stack" in item.nodeid:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def compose_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContainerStack]:
    keep_bases = os.environ.get("RWA_CONTAINERS_KEEP_BASES") == "1"
    with container_stack(tmp_path_factory.mktemp("containers"), keep_bases=keep_bases) as stack:
        yield stack
