"""Reading and rewriting the flag file (flagd's JSON format), and a small command line to flip
a flag in it: ``python -m stackkit.flag_file set fault.redis flaky``.

Every process watching the file (``FLAGD_OFFLINE_FLAG_SOURCE_PATH``) picks the change up
within a second; under compose, flagd serves the same file and streams the change.
"""

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stackkit.flag_catalog import with_default_variant

FLAG_FILE_ENV = "FLAGD_OFFLINE_FLAG_SOURCE_PATH"
REPO_FLAG_FILE = Path("infra/flags/flags.flagd.json")
"""The stack's flag file, relative to the repository root."""


def read_flag_file(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text())
    if not isinstance(document, dict):
        raise ValueError(f"{path}: a flag file is a JSON object")
    return document


def write_flag_file(path: Path, document: Mapping[str, object]) -> None:
    """Replace the file in one step, so a watcher never reads half a file, with a modification
    time later than the old one: the provider reloads only on a newer mtime, and two writes
    within one clock tick would otherwise look like one."""
    write_flag_text(path, json.dumps(document, indent=2) + "\n")


def write_flag_text(path: Path, text: str) -> None:
    """``write_flag_file`` for text that need not be valid (tests of a malformed file)."""
    try:
        old_mtime_ns: int | None = path.stat().st_mtime_ns
    except FileNotFoundError:
        old_mtime_ns = None
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    if old_mtime_ns is not None and path.stat().st_mtime_ns <= old_mtime_ns:
        later = old_mtime_ns + 1_000_000
        os.utime(path, ns=(later, later))


def set_flag(path: Path, key: str, variant: str) -> None:
    """Make ``variant`` the flag's answer (its ``defaultVariant``). ValueError if unknown."""
    write_flag_file(path, with_default_variant(read_flag_file(path), key, variant))


def default_flag_file() -> Path:
    configured = os.environ.get(FLAG_FILE_ENV)
    return Path(configured) if configured else REPO_FLAG_FILE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stackkit.flag_file", description="Show or flip the stack's run-time flags."
    )
    parser.add_argument(
        "--file",
        type=Path,
        default=None,
        help=f"the flag file (default: ${FLAG_FILE_ENV} or {REPO_FLAG_FILE})",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("show", help="every flag, its variant in force and its variants")
    flip = commands.add_parser("set", help="set a flag's variant")
    flip.add_argument("key")
    flip.add_argument("variant")
    args = parser.parse_args(argv)
    path: Path = args.file or default_flag_file()
    try:
        if args.command == "set":
            set_flag(path, args.key, args.variant)
            print(f"{args.key} = {args.variant} ({path})")
        else:
            for key, flag in sorted(read_flag_file(path).get("flags", {}).items()):
                variants = ", ".join(flag.get("variants", {}))
                print(f"{key:28} {flag.get('defaultVariant')!s:18} ({variants})")
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
