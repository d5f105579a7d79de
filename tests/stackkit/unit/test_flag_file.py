"""Rewriting the flag file: in one step, always with a newer mtime (the provider reloads only
on a newer one), and the command line that flips a flag."""

import os
from pathlib import Path

import pytest

from stackkit.flag_file import (
    default_flag_file,
    main,
    read_flag_file,
    set_flag,
    write_flag_file,
    write_flag_text,
)

DOCUMENT = {
    "$schema": "https://flagd.dev/schema/v0/flags.json",
    "flags": {
        "edge.coalescing": {
            "state": "ENABLED",
            "variants": {"on": "on", "off": "off"},
            "defaultVariant": "on",
        }
    },
}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    path = tmp_path / "flags.flagd.json"
    write_flag_file(path, DOCUMENT)
    return path


def test_write_then_read_gives_the_document_back(path: Path) -> None:
    assert read_flag_file(path) == DOCUMENT
    assert path.read_text().endswith("}\n")


def test_a_rewrite_within_one_clock_tick_still_gets_a_newer_mtime(path: Path) -> None:
    future = path.stat().st_mtime_ns + 10_000_000_000  # as if the clock were behind the file
    os.utime(path, ns=(future, future))
    write_flag_text(path, "{}")
    assert path.stat().st_mtime_ns > future
    assert path.read_text() == "{}"


def test_a_rewrite_leaves_no_temporary_file(path: Path) -> None:
    write_flag_file(path, DOCUMENT)
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_a_first_write_creates_the_file(tmp_path: Path) -> None:
    write_flag_text(tmp_path / "new.json", "{}")
    assert (tmp_path / "new.json").read_text() == "{}"


def test_read_refuses_a_file_that_is_not_an_object(tmp_path: Path) -> None:
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(ValueError, match="a flag file is a JSON object"):
        read_flag_file(tmp_path / "list.json")


def test_set_flag_flips_the_default_variant(path: Path) -> None:
    set_flag(path, "edge.coalescing", "off")
    assert read_flag_file(path)["flags"]["edge.coalescing"]["defaultVariant"] == "off"


def test_the_command_line_sets_and_shows(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--file", str(path), "set", "edge.coalescing", "off"]) == 0
    assert capsys.readouterr().out == f"edge.coalescing = off ({path})\n"
    assert main(["--file", str(path), "show"]) == 0
    assert capsys.readouterr().out.split() == ["edge.coalescing", "off", "(on,", "off)"]


def test_the_command_line_says_what_is_wrong(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--file", str(path), "set", "edge.coalescing", "sideways"]) == 2
    assert "no variant 'sideways'" in capsys.readouterr().err
    assert main(["--file", str(path.parent / "missing.json"), "show"]) == 2
    assert "No such file" in capsys.readouterr().err
    path.write_text("{ broken")
    assert main(["--file", str(path), "show"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and "Traceback" not in error


def test_the_default_file_is_the_providers_or_the_repos(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLAGD_OFFLINE_FLAG_SOURCE_PATH", raising=False)
    assert default_flag_file() == Path("infra/flags/flags.flagd.json")
    monkeypatch.setenv("FLAGD_OFFLINE_FLAG_SOURCE_PATH", "/tmp/elsewhere.json")
    assert default_flag_file() == Path("/tmp/elsewhere.json")
