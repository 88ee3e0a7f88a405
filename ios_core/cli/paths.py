"""Checks of the files a command reads and writes, made before any long work starts.

A search can take minutes; an ``--out`` in a missing folder must be reported before it, not after.
Each check raises :class:`~ios_core.cli.errors.CliError` with the path and what to do.
"""

from __future__ import annotations

import os
from pathlib import Path

from ios_core.cli.errors import CliError

__all__ = ["check_readable", "check_writable"]


def check_readable(path: str, what: str) -> None:
    """Refuse a file to read that is missing, a folder or unreadable; ``what``: "schedule file".

    >>> check_readable("/", "schedule file")
    Traceback (most recent call last):
    ...
    ios_core.cli.errors.CliError: schedule file / is a folder; give the path of the file itself
    """
    p = Path(path)
    if p.is_dir():
        raise CliError(f"{what} {path} is a folder; give the path of the file itself")
    if not p.exists():
        raise CliError(f"{what} {path} does not exist")
    if not os.access(p, os.R_OK):
        raise CliError(f"{what} {path} cannot be read (permission denied)")


def check_writable(path: str, option: str) -> None:
    """Refuse a file to write (given as ``option``, e.g. "--out") that cannot be written: a folder,
    a path in a missing folder, or a place without write permission.

    >>> check_writable("/", "--out")
    Traceback (most recent call last):
    ...
    ios_core.cli.errors.CliError: --out / is a folder; give a file name, e.g. /schedule.json
    """
    if not path:
        raise CliError(f"{option} needs a file name")
    p = Path(path)
    if p.is_dir():
        example = p / ("schedule.json" if option == "--out" else "out" + (p.suffix or ".json"))
        raise CliError(f"{option} {path} is a folder; give a file name, e.g. {example}")
    parent = p.parent
    if not parent.exists():
        raise CliError(f"{option} {path}: the folder {parent} does not exist; create it first "
                       f"(mkdir -p {parent}) or write elsewhere")
    if not parent.is_dir():
        raise CliError(f"{option} {path}: {parent} is a file, not a folder")
    if p.exists() and not os.access(p, os.W_OK):
        raise CliError(f"{option} {path} exists and cannot be written (permission denied)")
    if not p.exists() and not os.access(parent, os.W_OK):
        raise CliError(f"{option} {path}: the folder {parent} cannot be written "
                       "(permission denied)")
