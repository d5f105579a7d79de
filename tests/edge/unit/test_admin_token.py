"""The config plane's admin check: the shared bearer parser, then a constant-time compare."""

from types import SimpleNamespace
from typing import Any, cast

import pytest

from edge.admin import require_admin
from stackkit.errors import Unauthorized

TOKEN = "s3cret-admin-token-for-tests"


def _pop(admin_token: str = TOKEN) -> Any:
    return cast(Any, SimpleNamespace(settings=SimpleNamespace(admin_token=admin_token)))


@pytest.mark.parametrize("header", [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"Bearer  {TOKEN} "])
def test_the_admin_token_opens_the_config_plane(header: str) -> None:
    require_admin(_pop(), header)


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}",
     "Bearer t\xf6ken"],
)  # fmt: skip
def test_anything_else_is_a_401(header: str | None) -> None:
    with pytest.raises(Unauthorized):
        require_admin(_pop(), header)


def test_a_non_ascii_token_matches_its_utf8_bytes_on_the_wire() -> None:
    # ASGI servers decode header bytes as latin-1: UTF-8 "tök" arrives as "tÃ¶k".
    on_the_wire = "tök".encode().decode("latin-1")
    require_admin(_pop("tök"), f"Bearer {on_the_wire}")
    with pytest.raises(Unauthorized):
        require_admin(_pop("tök"), "Bearer tök")


def test_an_empty_admin_token_opens_nothing() -> None:
    with pytest.raises(Unauthorized):
        require_admin(_pop(""), "Bearer ")
