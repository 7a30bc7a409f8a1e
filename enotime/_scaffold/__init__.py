"""``enotime new``: a new ENoTime system with the reference layout, ready to run and test.

The templates are package data under ``template/``: every ``*.tmpl`` file is
copied with its suffix dropped and ``{{ name }}`` and
``{{ enotime_requirement }}`` replaced (``gitignore.tmpl`` becomes
``.gitignore``). They are not Python modules in this package, so no tool
mistakes them for the framework's code.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import keyword
import sys
from collections.abc import Iterator
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath
from typing import Any, Final

__all__ = ["ScaffoldError", "add_new_command", "check_name", "create", "templates"]

SUFFIX: Final = ".tmpl"
RENAMES: Final = {"gitignore": ".gitignore"}
RESERVED: Final = frozenset({"enotime"})
"""Names a system may not take: it would depend on itself."""


class ScaffoldError(ValueError):
    """The name is not acceptable, or the target directory is not empty."""


def check_name(name: str) -> None:
    """Raise :class:`ScaffoldError` unless ``name`` is a plain ASCII Python identifier."""
    if not (name.isascii() and name.isidentifier()) or keyword.iskeyword(name):
        raise ScaffoldError(
            f"{name!r} is not a valid name: use a Python identifier "
            "(ASCII letters, digits and underscores, not starting with a digit)"
        )
    if name in RESERVED:
        raise ScaffoldError(f"{name!r} is reserved: choose another name")


def templates() -> Iterator[tuple[PurePosixPath, str]]:
    """Every template as ``(relative output path, text)``, in a stable order."""
    yield from _walk(files(__package__).joinpath("template"), PurePosixPath())


def _walk(folder: Traversable, relative: PurePosixPath) -> Iterator[tuple[PurePosixPath, str]]:
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            yield from _walk(entry, relative / entry.name)
        elif entry.name.endswith(SUFFIX):
            name = entry.name.removesuffix(SUFFIX)
            yield relative / RENAMES.get(name, name), entry.read_text(encoding="utf-8")


def create(name: str, parent: Path) -> list[Path]:
    """Create the system ``name`` in ``parent / name``; return the files written.

    ``parent`` is created if needed; ``parent / name`` may exist if it is an
    empty directory.

    Raises:
        ScaffoldError: A bad name, or ``parent / name`` exists and is not an
            empty directory. Nothing is written then.
    """
    check_name(name)
    target = parent / name
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ScaffoldError(f"{target} already exists and is not an empty directory")
    values = {"name": name, "enotime_requirement": _requirement()}
    written = []
    for relative, text in templates():
        for key, value in values.items():
            text = text.replace("{{ " + key + " }}", value)
        path = target.joinpath(*relative.parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _requirement() -> str:
    """``enotime>=X.Y`` for the installed release, so the new system gets at least this one."""
    try:
        version = importlib.metadata.version("enotime")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree
        return "enotime"
    release = ".".join(version.split(".")[:2])
    return f"enotime>={release}"


def add_new_command(commands: Any) -> None:
    """Add ``enotime new`` to the CLI's subcommands."""
    new = commands.add_parser(
        "new",
        help="create a new ENoTime system",
        description="Create NAME/ with the reference layout -- actors/, supervisors/, api/, "
        "tests/, deploy/, pyproject.toml and a README -- holding a tiny supervised "
        "system that runs on embedded defaults and passes its own tests.",
    )
    new.add_argument("name", help="the system's name: a Python identifier; also its directory")
    new.add_argument(
        "--path",
        type=Path,
        default=Path(),
        metavar="DIR",
        help="create the system in DIR/NAME (default: the current directory)",
    )
    new.set_defaults(func=_new)


def _new(args: argparse.Namespace) -> int:
    try:
        written = create(args.name, args.path)
    except ScaffoldError as exc:
        print(f"enotime new: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"enotime new: {exc}", file=sys.stderr)
        return 1
    target = args.path / args.name
    print(f"created {target}/ ({len(written)} files)")
    print()
    print(f'test it:  cd {target} && python -m pip install -e ".[test]" && python -m pytest')
    print(f"run it:   cd {target} && enotime run supervisors.main:tree --name {args.name}")
    return 0
