"""The benchmarks' results files: JSON and Markdown rewritten after every row; tables; logs.

A results file holds a header (the device, software versions and date: ``harness.environment``)
and rows; :class:`Report` rewrites it as ``<stem>.json`` and ``<stem>.md`` after every row, so a
run cut short keeps what it measured. Results go to ``--out-dir`` (:func:`out_dir`: ``$OUT`` when
set, the GPU machine's folder that comes back, else ``benchmarks/results/``). :func:`table` and
:func:`pivot` build Markdown pipe tables; :func:`num`, :func:`sci` and :func:`latency_cell` fill
their cells; :func:`versions` writes the line under a title. Needs neither torch nor a GPU.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ios_core.ir.files import atomic_write_text

Row = dict[str, Any]
RESULTS = Path(__file__).resolve().parent / "results"


# ---- header -------------------------------------------------------------------------------------
def timestamp() -> str:
    """Now, in UTC, to the second (ISO 8601)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def versions(header: dict[str, Any]) -> str:
    """The versions a header holds, and its date: "torch 2.11.0, CUDA 13.0, cuDNN 91900, <date>"
    (older results files lack some)."""
    parts = [f"{name} {header[key]}" for name, key in
             (("torch", "torch"), ("CUDA", "cuda"), ("cuDNN", "cudnn")) if header.get(key)]
    return ", ".join([*parts, str(header.get("date", ""))])


# ---- results files ------------------------------------------------------------------------------
def out_dir(path: str | Path | None = None) -> Path:
    """``path``, else ``$OUT`` when set, else ``benchmarks/results/``."""
    return Path(path or os.environ.get("OUT") or RESULTS)


def argument_parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """A script's parser: named as it is run (``python -m benchmarks.x``), described by the first
    paragraph of its docstring."""
    return argparse.ArgumentParser(prog=f"python -m {module}",
                                   description=(doc or "").split("\n\n")[0],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def add_out_dir(parser: argparse.ArgumentParser) -> None:
    """The ``--out-dir`` option every measuring script has (read it with :func:`out_dir`)."""
    parser.add_argument("--out-dir", default=None,
                        help="where results go (default: $OUT when set, else benchmarks/results)")


def write_json(path: Path, data: Any) -> None:
    """``data`` as indented JSON (anything else as its string), written atomically."""
    atomic_write_text(path, json.dumps(data, indent=1, default=str) + "\n")


class Report:
    """A header and rows, rewritten as ``<stem>.json`` and ``<stem>.md`` after every row.

    The JSON holds the header's fields, ``rows`` and the lists in ``extra`` (ios_table's
    ``profiles``); ``render`` turns that same dict into the Markdown. ``describe``, when given,
    logs one line per added row.
    """

    def __init__(self, folder: Path, stem: str, header: dict[str, Any],
                 render: Callable[[dict[str, Any]], str],
                 describe: Callable[[Row], str] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.json_path, self.md_path = folder / f"{stem}.json", folder / f"{stem}.md"
        self.header = header
        self.rows: list[Row] = []
        self.extra = extra or {}
        self.render, self.describe = render, describe

    @property
    def data(self) -> dict[str, Any]:
        return {**self.header, "rows": self.rows, **self.extra}

    def add(self, row: Row) -> None:
        self.rows.append(row)
        self.write()
        if self.describe is not None:
            log(self.describe(row))

    def extend(self, rows: Iterable[Row]) -> None:
        self.rows.extend(rows)
        self.write()

    def write(self) -> None:
        data = self.data
        write_json(self.json_path, data)
        atomic_write_text(self.md_path, self.render(data))


_T0 = time.perf_counter()


def log(text: str, file: Any = None) -> None:
    """``text`` with the seconds since the script started, flushed (stdout unless ``file``)."""
    print(f"[{time.perf_counter() - _T0:6.1f} s] {text}", file=file or sys.stdout, flush=True)


# ---- Markdown -----------------------------------------------------------------------------------
def table(head: Sequence[Any], rows: Iterable[Sequence[Any]]) -> list[str]:
    """The lines of a Markdown pipe table."""
    return ["| " + " | ".join(map(str, head)) + " |", "|" + "---|" * len(head),
            *("| " + " | ".join(map(str, row)) + " |" for row in rows)]


def pivot(rows: Sequence[Row], index: Sequence[str], column: str,
          cell: Callable[[Row | None], str], columns: Sequence[Any] | None = None) -> list[str]:
    """One line per distinct ``index`` fields, one column per value of ``column`` (``columns``,
    else those found), each cell ``cell(row)`` (``None`` where no row has that pair); both in
    the order the rows first show them."""
    keys = list(dict.fromkeys(tuple(r[k] for k in index) for r in rows))
    cols = list(dict.fromkeys(r[column] for r in rows)) if columns is None else list(columns)
    found = {(*(r[k] for k in index), r[column]): r for r in rows}
    return table([*index, *cols], ([*key, *(cell(found.get((*key, c))) for c in cols)]
                                   for key in keys))


def latency_cell(row: Row | None) -> str:
    """A row's milliseconds; "skipped" or "error" when it has none; " (!)" when not ``ok``."""
    if row is None:
        return ""
    if row.get("ms") is None:
        return "skipped" if str(row.get("error", "skipped")).startswith("skipped") else "error"
    return f"{row['ms']:.3f}" + ("" if row.get("ok", True) else " (!)")


def num(x: Any, digits: int = 3) -> str:
    """``x`` with ``digits`` decimals; empty for None."""
    return "" if x is None else f"{x:.{digits}f}"


def sci(x: Any) -> str:
    """``x`` in scientific notation (2 digits); empty for None."""
    return "" if x is None else f"{x:.1e}"
