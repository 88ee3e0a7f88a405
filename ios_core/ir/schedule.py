"""Schedules: stages of operator groups, their JSON file format, and validation against a graph.

A :class:`Schedule` lists :class:`Stage` s that run one after another. A stage's ``strategy`` is

* ``"concurrent"``: ``groups`` are independent chains of work; each group runs its ops in the listed
  (topological) order on its own stream, and groups overlap;
* ``"merge"``: exactly one group, the convolutions that are computed by one wide convolution, in the
  order their output channels appear in it, optionally followed by the concat that joins exactly
  them (a view of the wide output: :func:`~ios_core.ir.merge.merge_stage_problem`).

File format ``ios-schedule/1`` (JSON)::

    {"format": "ios-schedule/1",
     "model":  {"name", "fingerprint", "input_shape", "leaf_modules" (optional)},
     "target": {"device", "batch", "dtype", "torch", "cudnn"},
     "search": {"strategy", "r", "s", "max_part_ops", "cost", "stats"},
     "stages": [{"strategy", "groups", "predicted_ms", "measured_ms", "estimated"}],
     "totals": {"predicted_ms", "measured_ms", "stages", "operators", "estimated_stages",
                "note" (when stages were estimated: Schedule.estimate_note)}}

``totals`` is for readers of the file; loading recomputes it from the stages.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ios_core.ir.graph import OpGraph
from ios_core.ir.merge import merge_stage_problem

FORMAT = "ios-schedule/1"
STRATEGIES = ("concurrent", "merge")
SEARCH_STRATEGIES = ("sequential", "greedy", "ios-merge", "ios-parallel", "ios-both")


class ScheduleError(ValueError):
    """A schedule file or object is unusable; the message names the first problem plainly."""


@dataclass(frozen=True)
class Stage:
    strategy: str  # "concurrent" | "merge"
    groups: tuple[tuple[str, ...], ...]
    predicted_ms: float = 0.0
    measured_ms: float | None = None
    estimated: bool = False  # True when the cost came from the simulated model, not a measurement

    @property
    def ops(self) -> tuple[str, ...]:
        return tuple(name for g in self.groups for name in g)

    def to_json(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "groups": [list(g) for g in self.groups],
            "predicted_ms": self.predicted_ms,
            "measured_ms": self.measured_ms,
            "estimated": self.estimated,
        }


@dataclass(frozen=True)
class ModelRef:
    name: str  # a sample model name or "package.module:callable"
    fingerprint: str
    input_shape: tuple[int, ...]
    # the modules traced whole (qualified or class names), so that the same graph can be rebuilt;
    # written only when there are some (older files have none)
    leaf_modules: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    device: str  # "simulated:h100", "NVIDIA H100 80GB HBM3", "cpu", ...
    batch: int
    dtype: str = "float32"
    torch: str = ""
    cudnn: str = ""


@dataclass(frozen=True)
class SearchInfo:
    strategy: str
    r: int
    s: int
    max_part_ops: int
    cost: str  # the cost source, e.g. "simulated:h100", "measured", "profile:h100"
    stats: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Schedule:
    model: ModelRef
    target: Target
    search: SearchInfo
    stages: tuple[Stage, ...]

    @property
    def predicted_ms(self) -> float:
        return sum(s.predicted_ms for s in self.stages)

    @property
    def measured_ms(self) -> float | None:
        values = [s.measured_ms for s in self.stages]
        return None if any(v is None for v in values) else sum(values)  # type: ignore[misc]

    @property
    def ops(self) -> tuple[str, ...]:
        return tuple(name for st in self.stages for name in st.ops)

    @property
    def estimated_stages(self) -> int:
        return sum(s.estimated for s in self.stages)

    def estimate_note(self) -> str:
        """'' when every stage cost is what the cost source gives; else how many stages were
        estimated and that the total is therefore not a measurement of ``target.device`` (a
        profile of another model, or of part of this one: its missing stages are simulated).

        >>> st = Stage("concurrent", (("a",),), 1.0, estimated=True)
        >>> s = Schedule(ModelRef("m", "f", (1,)), Target("NVIDIA H200", 1),
        ...              SearchInfo("sequential", 1, 1, 1, "profile:h200"), (st, replace(st)))
        >>> s.estimate_note()[:49]
        '2 stage costs are estimated (of 2), not measured:'
        >>> s.estimate_note().endswith("is not a measurement of NVIDIA H200")
        True
        """
        n = self.estimated_stages
        if not n:
            return ""
        return (f"{n} stage costs are estimated (of {len(self.stages)}), not measured: the "
                f"predicted total is not a measurement of {self.target.device}")

    def with_stages(self, stages: tuple[Stage, ...]) -> Schedule:
        return replace(self, stages=tuple(stages))

    # ---- JSON ---------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "model": _model_json(self.model),
            "target": asdict(self.target),
            "search": {**asdict(self.search), "stats": dict(self.search.stats)},
            "stages": [s.to_json() for s in self.stages],
            "totals": {
                "predicted_ms": self.predicted_ms,
                "measured_ms": self.measured_ms,
                "stages": len(self.stages),
                "operators": len(self.ops),
                # for readers of the file; recomputed from the stages when it is loaded
                "estimated_stages": self.estimated_stages,
                **({"note": self.estimate_note()} if self.estimated_stages else {}),
            },
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1)

    def save(self, path: str) -> None:
        with open(path, "w") as f:
            f.write(self.dumps())

    @staticmethod
    def loads(text: str | bytes) -> Schedule:
        """Parse a schedule file; raise :class:`ScheduleError` naming the first problem.

        >>> Schedule.loads('{"format": ')  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ios_core.ir.schedule.ScheduleError: not valid JSON (Expecting value, line 1 column 12); ...
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            detail = f"{e.msg}, line {e.lineno} column {e.colno}"
        except UnicodeDecodeError:
            detail = "it is not UTF-8 text"
        except RecursionError:
            detail = "nested too deeply"
        except ValueError as e:  # e.g. an integer of more digits than Python converts
            detail = str(e).splitlines()[0]
        else:
            return Schedule.from_json(data)
        raise ScheduleError(
            f"not valid JSON ({detail}); it may be truncated or not a schedule: save the schedule "
            "again (`python -m ios_core optimize ... --out FILE`, or the app's Export page)"
        )

    @staticmethod
    def load(path: str | os.PathLike[str]) -> Schedule:
        """Read a schedule file; every :class:`ScheduleError` names the file."""
        try:
            with open(path, "rb") as f:
                text = f.read()
        except IsADirectoryError:
            raise ScheduleError(f"{path} is a folder, not a schedule file") from None
        except FileNotFoundError:
            raise ScheduleError(f"schedule file {path} does not exist") from None
        except OSError as e:
            raise ScheduleError(f"cannot read schedule file {path}: {e.strerror or e}") from None
        try:
            return Schedule.loads(text)
        except ScheduleError as e:
            raise ScheduleError(f"schedule file {path}: {e}") from None

    @staticmethod
    def from_json(data: Any) -> Schedule:
        return _parse(data)


def _model_json(model: ModelRef) -> dict[str, Any]:
    """The file's ``model`` object; ``leaf_modules`` only when there are some.

    >>> _model_json(ModelRef("m", "f", (1, 3), ("stem.gate",)))["leaf_modules"]
    ['stem.gate']
    >>> "leaf_modules" in _model_json(ModelRef("m", "f", (1, 3)))
    False
    """
    data = {**asdict(model), "input_shape": list(model.input_shape)}
    if model.leaf_modules:
        data["leaf_modules"] = list(model.leaf_modules)
    else:
        del data["leaf_modules"]
    return data


# ---- parsing ----------------------------------------------------------------------------------
def _need(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise ScheduleError(f"{where} has no {key!r} field")
    value = obj[key]
    if kind is float:
        kind = (int, float)
    if isinstance(value, bool) and kind in (int, (int, float)):
        raise ScheduleError(f"{where}.{key} must be a number, not {value!r}")
    if not isinstance(value, kind):
        raise ScheduleError(f"{where}.{key} has the wrong type ({type(value).__name__})")
    return value


def _leaf_modules(m: dict[str, Any]) -> tuple[str, ...]:
    leaves = m.get("leaf_modules", [])
    if not isinstance(leaves, list) or not all(isinstance(x, str) and x for x in leaves):
        raise ScheduleError("model.leaf_modules must be a list of module or class names")
    return tuple(leaves)


def _parse(data: Any) -> Schedule:
    if not isinstance(data, dict):
        raise ScheduleError("the file does not hold a schedule object (expected a JSON object)")
    fmt = data.get("format")
    if fmt != FORMAT:
        raise ScheduleError(
            f"unknown schedule format {fmt!r}: this version of IOS Explorer reads {FORMAT!r}"
        )
    m = _need(data, "model", dict, "schedule")
    model = ModelRef(
        name=_need(m, "name", str, "model"),
        fingerprint=_need(m, "fingerprint", str, "model"),
        input_shape=tuple(_need(m, "input_shape", list, "model")),
        leaf_modules=_leaf_modules(m),
    )
    if not all(type(d) is int and d >= 0 for d in model.input_shape):
        raise ScheduleError("model.input_shape must be a list of non-negative integers")
    t = _need(data, "target", dict, "schedule")
    target = Target(
        device=_need(t, "device", str, "target"),
        batch=_need(t, "batch", int, "target"),
        dtype=str(t.get("dtype", "float32")),
        torch=str(t.get("torch", "")),
        cudnn=str(t.get("cudnn", "")),
    )
    if target.batch < 1:
        raise ScheduleError(f"target.batch must be at least 1 (got {target.batch})")
    s = _need(data, "search", dict, "schedule")
    if not isinstance(s.get("stats") or {}, dict):
        raise ScheduleError("search.stats must be an object")
    search = SearchInfo(
        strategy=_need(s, "strategy", str, "search"),
        r=_need(s, "r", int, "search"),
        s=_need(s, "s", int, "search"),
        max_part_ops=_need(s, "max_part_ops", int, "search"),
        cost=_need(s, "cost", str, "search"),
        stats=dict(s.get("stats") or {}),
    )
    if search.r < 1 or search.s < 1:
        raise ScheduleError(f"search r and s must be at least 1 (got r={search.r}, s={search.s})")
    stages = []
    # stages are counted from 1 in messages, as the app, `show` and the CSV count them
    for i, st in enumerate(_need(data, "stages", list, "schedule"), start=1):
        where = f"stage {i}"
        strategy = _need(st, "strategy", str, where)
        if strategy not in STRATEGIES:
            raise ScheduleError(
                f"{where} has unknown strategy {strategy!r} (expected one of {STRATEGIES})"
            )
        groups = _need(st, "groups", list, where)
        if not groups or any(not isinstance(g, list) or not g for g in groups):
            raise ScheduleError(f"{where}: groups must be a non-empty list of non-empty lists")
        if any(not isinstance(name, str) for g in groups for name in g):
            raise ScheduleError(f"{where}: operator names must be strings")
        predicted = _need(st, "predicted_ms", float, where)
        measured = st.get("measured_ms")
        bad_measured = isinstance(measured, bool) or not isinstance(measured, (int, float))
        if measured is not None and (bad_measured or not math.isfinite(measured)
                                     or measured < 0):
            raise ScheduleError(f"{where}.measured_ms must be a finite, non-negative number "
                                "or null")
        if not math.isfinite(predicted) or predicted < 0:
            raise ScheduleError(f"{where}.predicted_ms must be a finite, non-negative number")
        stages.append(
            Stage(
                strategy=strategy,
                groups=tuple(tuple(g) for g in groups),
                predicted_ms=float(predicted),
                measured_ms=None if measured is None else float(measured),
                estimated=bool(st.get("estimated", False)),
            )
        )
    return Schedule(model=model, target=target, search=search, stages=tuple(stages))


# ---- validation against a graph ---------------------------------------------------------------
def validate_schedule(
    schedule: Schedule, graph: OpGraph, *, check_fingerprint: bool = True
) -> None:
    """Check that ``schedule`` is a correct plan for ``graph``; raise ScheduleError if not.

    Every operator appears exactly once; an op runs after everything it reads (earlier stage, or
    earlier in its own group); groups of a concurrent stage do not read each other; merge stages
    obey the merge rules.
    """
    if check_fingerprint and schedule.model.fingerprint != graph.fingerprint():
        raise ScheduleError(
            f"this schedule was made for another model (fingerprint {schedule.model.fingerprint}, "
            f"this model's is {graph.fingerprint()}); load it with the model and batch size it "
            "was made for, or optimize this model again"
        )
    scheduled = set(schedule.ops)
    seen: dict[str, int] = {}
    for si, stage in enumerate(schedule.stages, start=1):  # counted from 1, as users see them
        group_of: dict[str, int] = {}
        for gi, group in enumerate(stage.groups):
            for name in group:
                if name not in graph:
                    raise ScheduleError(
                        f"stage {si} names operator {name!r}, which the model does not have"
                    )
                if name in seen or name in group_of:
                    first = seen.get(name, si)
                    raise ScheduleError(
                        f"operator {name!r} is scheduled twice (stages {first} and {si})"
                    )
                group_of[name] = gi
        for gi, group in enumerate(stage.groups):
            done_in_group: set[str] = set()
            for name in group:
                for pred in graph.predecessors(name):
                    if pred in seen:
                        continue
                    if pred in group_of:
                        if stage.strategy == "merge" and name != stage.groups[0][-1]:
                            raise ScheduleError(
                                f"stage {si} merges {name!r} with {pred!r}, which it reads"
                            )
                        if group_of[pred] != gi:
                            raise ScheduleError(
                                f"dependency violated in stage {si}: {name!r} reads {pred!r}, "
                                "which runs concurrently in another group of the same stage"
                            )
                        if pred not in done_in_group:
                            raise ScheduleError(
                                f"dependency violated in stage {si}: {name!r} comes before "
                                f"{pred!r}, which it reads, in its group"
                            )
                        continue
                    if pred not in scheduled:
                        raise ScheduleError(
                            f"operator {pred!r} is missing from the schedule "
                            f"({name!r} in stage {si} reads it)"
                        )
                    raise ScheduleError(
                        f"dependency violated: {name!r} (stage {si}) reads {pred!r}, "
                        "which is scheduled in a later stage"
                    )
                done_in_group.add(name)
        if stage.strategy == "merge":
            if len(stage.groups) != 1:
                raise ScheduleError(
                    f"stage {si} is a merge stage but has {len(stage.groups)} groups (needs one)"
                )
            problem = merge_stage_problem(graph, stage.groups[0])
            if problem:
                raise ScheduleError(f"illegal merge in stage {si}: {problem}")
        for name in group_of:
            seen[name] = si
    missing = [n.name for n in graph.nodes if n.name not in seen]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise ScheduleError(f"operator {missing[0]!r}{more} is missing from the schedule")
