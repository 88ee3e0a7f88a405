"""Two schedules of one model side by side, stage by stage (IOS's specialisation study: a
schedule found for one GPU, batch or knob setting against another's).

The schedules are cut into **segments**: the shortest runs of stages after which both have run
exactly the same operators. Where a segment holds the same stages in both, nothing changed
there; elsewhere the rows say what each schedule did with those operators and what it cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ios_core.ir.schedule import Schedule, Stage

__all__ = ["diff_rows", "segments"]

Row = dict[str, Any]


def segments(a: Sequence[Sequence[str]], b: Sequence[Sequence[str]]
             ) -> list[tuple[range, range]]:
    """(stages of ``a``, stages of ``b``) per segment, given each stage's ops, in run order.

    >>> segments([["x"], ["y", "z"]], [["x", "y"], ["z"]])
    [(range(0, 2), range(0, 2))]
    >>> segments([["x"], ["y"], ["z"]], [["x"], ["z"], ["y"]])
    [(range(0, 1), range(0, 1)), (range(1, 3), range(1, 3))]
    """
    done_a: set[str] = set()
    done_b: set[str] = set()
    i = j = i0 = j0 = 0
    out = []
    while i < len(a) or j < len(b):
        if j >= len(b) or (i < len(a) and len(done_a) <= len(done_b)):
            done_a.update(a[i])
            i += 1
        else:
            done_b.update(b[j])
            j += 1
        if len(done_a) == len(done_b) and done_a == done_b:
            out.append((range(i0, i), range(j0, j)))
            i0, j0 = i, j
    if i0 < len(a) or j0 < len(b):  # schedules of different ops: the rest is one segment
        out.append((range(i0, len(a)), range(j0, len(b))))
    return out


def _kinds(stages: Sequence[Stage]) -> str:
    """'1 merge + 2 concurrent (5 streams)' for a run of stages."""
    merges = sum(s.strategy == "merge" for s in stages)
    conc = [s for s in stages if s.strategy != "merge"]
    parts = [f"{merges} merge"] if merges else []
    if conc:
        parts.append(f"{len(conc)} concurrent ({sum(len(s.groups) for s in conc)} streams)")
    return " + ".join(parts) or "–"


def _numbers(r: range) -> str:
    return "–" if not r else str(r.start + 1) if len(r) == 1 else f"{r.start + 1}–{r.stop}"


def diff_rows(a: Schedule, b: Schedule, only_changes: bool = True) -> list[Row]:
    """One row per segment (see the module docstring): the stages of each schedule, what they
    are, their times (each schedule's own ``predicted_ms``: price both under one cost model for
    a fair difference) and the change from ``a`` to ``b``."""
    rows = []
    for ra, rb in segments([s.ops for s in a.stages], [s.ops for s in b.stages]):
        sa, sb = [a.stages[k] for k in ra], [b.stages[k] for k in rb]
        same = [(s.strategy, s.groups) for s in sa] == [(s.strategy, s.groups) for s in sb]
        if same and only_changes:
            continue
        ms_a, ms_b = sum(s.predicted_ms for s in sa), sum(s.predicted_ms for s in sb)
        ops = [op for s in sa for op in s.ops]
        rows.append({
            "A stages": _numbers(ra), "B stages": _numbers(rb),
            "ops": len(ops), "first op": ops[0] if ops else "–",
            "A did": _kinds(sa), "B did": _kinds(sb),
            "A ms": round(ms_a, 4), "B ms": round(ms_b, 4),
            "change ms": round(ms_b - ms_a, 4),
            "same stages": "yes" if same else "no",
        })
    return rows
