"""Profile databases: measured stage latencies on disk, readable with no GPU and no torch.

A database holds the median latency (ms) of stages measured on one device, keyed by their
:func:`~ios_core.ir.graph.stage_signature`, so identical cells anywhere share one entry. Its
**key** says what the numbers are valid for: device name, torch and cuDNN versions, dtype and batch
size. Databases with equal keys merge (one file per model is shipped; ``profile:h100`` merges them).

File format ``ios-profile/1`` (JSON, one entry per line so diffs stay readable)::

    {"format": "ios-profile/1",
     "key":     {"device", "torch", "cudnn", "dtype", "batch"},
     "models":  [{"name", "fingerprint", "r", "s", "strategies", "complete"}],
     "measure": {"warmup", "iters", "stat", ...},     # how the numbers were taken
     "entries": {signature: ms},
     "stages":  {signature: [model, strategy, groups]}}  # optional: where each was first met

``models`` is a list rather than one name because merged databases (and one benchmark run that
shares measurements across models) cover several; ``stages`` lets a reader (calibration, a human)
rebuild each measured stage from its model without guessing the signature's preimage.

:class:`ProfileCost` answers from a database and falls back to the simulated device for a stage
it lacks, marking that answer ``estimated``.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ios_core.cost.analytic import SimulatedCost
from ios_core.cost.base import CostModel, StageCost
from ios_core.ir.files import atomic_write_text
from ios_core.ir.graph import OpGraph, stage_signature
from ios_core.ir.merge import trailing_concat

FORMAT = "ios-profile/1"
# shipped databases: package data of ios_core (ios_core/data/profiles), so that a checkout, an
# editable install and a wheel all find them; pip always unpacks a wheel, so the folder is a real
# directory that Path can glob. IOS_PROFILE_PATH (os.pathsep-separated folders) adds more, first.
PROFILE_DIR = Path(str(resources.files("ios_core") / "data" / "profiles"))
SCHEDULE_SUFFIX = ".schedule.json"  # GPU schedules stored beside a database, not databases
# stages a ProfileCost remembers by op names before it starts over (~0.3 KB each): NASNet's
# searches ask for millions
MEMO_LIMIT = 200_000

StageLabel = tuple[str, str, tuple[tuple[str, ...], ...]]  # (model, strategy, groups)


class ProfileError(ValueError):
    """A profile database cannot be read, found, merged or used; the message says why."""


@dataclass(frozen=True)
class ProfileKey:
    """What a database's numbers are valid for."""

    device: str  # torch.cuda.get_device_name(), e.g. "NVIDIA H100 80GB HBM3"
    torch: str  # torch.__version__ on the measuring machine
    cudnn: str  # str(torch.backends.cudnn.version())
    dtype: str  # "float32"
    batch: int

    def describe(self) -> str:
        return (f"{self.device}, torch {self.torch}, cuDNN {self.cudnn}, {self.dtype}, "
                f"batch {self.batch}")

    def differences(self, other: ProfileKey) -> list[str]:
        """Plain-words list of the fields that differ (empty when the keys are equal)."""
        mine, theirs = asdict(self), asdict(other)
        return [f"{k} {mine[k]!r} vs {theirs[k]!r}" for k in mine if mine[k] != theirs[k]]


@dataclass
class ProfileDB:
    """Measured stage latencies of one device/software/dtype/batch key."""

    key: ProfileKey
    entries: dict[str, float] = field(default_factory=dict)  # signature -> ms
    stages: dict[str, StageLabel] = field(default_factory=dict)  # signature -> where first met
    models: list[dict[str, Any]] = field(default_factory=list)
    measure: dict[str, Any] = field(default_factory=dict)
    name: str = ""  # how users refer to it ("h100", a file stem); not stored
    path: str | None = None  # where it was loaded from; not stored
    # the databases merged into this one, each as loaded (one per model file); not stored: the
    # lower bounds (cost/bounds.py) tell apart the models whose stages a merged database holds
    parts: list[ProfileDB] = field(default_factory=list, repr=False, compare=False)

    # ---- access ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, signature: object) -> bool:
        return signature in self.entries

    def get(self, signature: str) -> float | None:
        return self.entries.get(signature)

    def add(self, signature: str, ms: float, label: StageLabel | None = None) -> None:
        """Record a measurement (a later one for the same signature replaces the earlier)."""
        if not (isinstance(ms, (int, float)) and math.isfinite(ms) and ms >= 0):
            raise ProfileError(f"stage latency must be a finite, non-negative number (got {ms!r})")
        self.entries[signature] = float(ms)
        if label is not None:
            self.stages.setdefault(signature, _label(label))

    def model_info(self, name: str) -> dict[str, Any] | None:
        return next((m for m in self.models if m.get("name") == name), None)

    def set_model_info(self, name: str, **info: Any) -> None:
        """Create or update the ``models`` record of ``name``."""
        record = self.model_info(name)
        if record is None:
            record = {"name": name}
            self.models.append(record)
        record.update(info)

    # ---- merging --------------------------------------------------------------------------------
    def merged(self, other: ProfileDB) -> ProfileDB:
        """A new database with both sets of entries; ``self`` wins where both hold a signature.

        Keeping the first value (rather than averaging) makes a merge reproduce exactly the
        numbers one of the measuring runs used, so schedules found there are found again here.
        """
        if self.key != other.key:
            raise ProfileError(
                f"cannot merge profile {other.name or other.path or '?'} into "
                f"{self.name or self.path or '?'}: they were measured under different conditions ("
                + "; ".join(self.key.differences(other.key)) + ")"
            )
        out = ProfileDB(self.key, dict(other.entries), dict(other.stages),
                        name=self.name or other.name, measure=dict(self.measure or other.measure))
        out.entries.update(self.entries)
        out.stages.update(self.stages)
        out.models = [dict(m) for m in self.models]
        for m in other.models:
            if out.model_info(m.get("name", "")) is None:
                out.models.append(dict(m))
        out.parts = [*(self.parts or [self]), *(other.parts or [other])]
        return out

    # ---- JSON -----------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "key": asdict(self.key),
            "models": self.models,
            "measure": self.measure,
            "entries": dict(sorted(self.entries.items())),
            "stages": {s: [m, st, [list(g) for g in gs]]
                       for s, (m, st, gs) in sorted(self.stages.items())},
        }

    def dumps(self) -> str:
        """JSON text with one entry per line (diffable, and far smaller than ``indent=1``)."""
        data = self.to_json()
        head = {k: v for k, v in data.items() if k not in ("entries", "stages")}
        lines = ["{" + json.dumps(head)[1:-1] + ","]
        for section in ("entries", "stages"):
            items = [f" {json.dumps(k)}: {json.dumps(v)}" for k, v in data[section].items()]
            lines.append(f' "{section}": {{')
            lines.append(",\n".join(items))
            lines.append(" }" + ("," if section == "entries" else ""))
        lines.append("}")
        return "\n".join(line for line in lines if line) + "\n"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically, so an interrupted profiling run never leaves a torn file."""
        atomic_write_text(path, self.dumps())

    @staticmethod
    def from_json(data: Any, name: str = "", path: str | None = None) -> ProfileDB:
        return _parse(data, name, path)

    @staticmethod
    def loads(text: str | bytes, name: str = "", path: str | None = None) -> ProfileDB:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ProfileError(
                f"profile {path or name or ''} is not valid JSON ({e}); it may be truncated"
            ) from None
        return _parse(data, name, path)

    @staticmethod
    def load(path: str | os.PathLike[str]) -> ProfileDB:
        path = Path(path)
        try:
            text = path.read_bytes()
        except OSError as e:
            raise ProfileError(f"cannot read profile {path}: {e.strerror or e}") from None
        return ProfileDB.loads(text, name=path.name.removesuffix(".json"), path=str(path))


def _label(label: Sequence[Any]) -> StageLabel:
    model, strategy, groups = label
    return (str(model), str(strategy), tuple(tuple(str(n) for n in g) for g in groups))


def _parse(data: Any, name: str, path: str | None) -> ProfileDB:
    where = f"profile {path or name}".rstrip()
    if not isinstance(data, dict):
        raise ProfileError(f"{where} does not hold a JSON object")
    if data.get("format") != FORMAT:
        raise ProfileError(
            f"{where} has format {data.get('format')!r}; this version reads {FORMAT!r}"
        )
    k = data.get("key")
    fields = ("device", "torch", "cudnn", "dtype", "batch")
    if not isinstance(k, dict) or any(f not in k for f in fields):
        raise ProfileError(f"{where}: 'key' must hold {', '.join(fields)}")
    if isinstance(k["batch"], bool) or not isinstance(k["batch"], int) or k["batch"] < 1:
        raise ProfileError(f"{where}: key.batch must be a positive integer")
    key = ProfileKey(str(k["device"]), str(k["torch"]), str(k["cudnn"]), str(k["dtype"]),
                     k["batch"])
    entries = data.get("entries")
    if not isinstance(entries, dict):
        raise ProfileError(f"{where}: 'entries' must map stage signatures to milliseconds")
    db = ProfileDB(key, name=name, path=path)
    for sig, ms in entries.items():
        if isinstance(ms, bool) or not isinstance(ms, (int, float)):
            raise ProfileError(f"{where}: entry {sig} is not a number ({ms!r})")
        try:
            db.add(sig, ms)
        except ProfileError as e:
            raise ProfileError(f"{where}: entry {sig}: {e}") from None
    try:
        db.stages = {s: _label(v) for s, v in (data.get("stages") or {}).items()}
    except (TypeError, ValueError):
        raise ProfileError(f"{where}: 'stages' must map signatures to [model, strategy, groups]"
                           ) from None
    db.models = [dict(m) for m in data.get("models") or [] if isinstance(m, dict)]
    db.measure = dict(data.get("measure") or {})
    return db


# ---- naming database files ---------------------------------------------------------------------
def device_slug(device_name: str) -> str:
    """A short lowercase name of a GPU, the first part of its databases' file names (the profile
    name ``list_profiles`` reports): "NVIDIA H100 80GB HBM3" -> "h100"."""
    m = re.search(r"\b([A-Z]{1,3}\d{1,4}[A-Z]?)\b", device_name.upper().replace("RTX ", "RTX"))
    return m.group(1).lower() if m else file_slug(device_name)


def file_slug(text: str) -> str:
    """``text`` as one part of a file name: lowercase letters, digits, ``_`` and ``.``."""
    return re.sub(r"[^a-z0-9_.]+", "_", text.lower()).strip("_") or "model"


# ---- finding shipped databases ------------------------------------------------------------------
def profile_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get("IOS_PROFILE_PATH", "").split(os.pathsep) if p]
    return [*extra, PROFILE_DIR]


def _profile_files(folder: Path, prefix: str = "") -> list[Path]:
    return sorted(p for p in folder.glob(f"{prefix}*.json")
                  if not p.name.endswith(SCHEDULE_SUFFIX) and p.is_file())


def list_profiles(dirs: Iterable[Path] | None = None) -> list[tuple[str, ProfileKey, Path]]:
    """Every database in the search folders as ``(name, key, path)``; name is the part before
    the first ``-`` of the file name (``h100-inception_v3-b1.json`` -> ``h100``)."""
    found = []
    for folder in dirs if dirs is not None else profile_dirs():
        for p in _profile_files(Path(folder)):
            try:
                db = ProfileDB.load(p)
            except ProfileError:
                continue  # a broken file must not hide the others from a listing
            found.append((p.name.split("-")[0].removesuffix(".json"), db.key, p))
    return found


def merge_dbs(dbs: Sequence[ProfileDB], name: str = "") -> ProfileDB:
    """Merge databases of one key; earlier ones win where signatures collide."""
    if not dbs:
        raise ProfileError("no profile databases to merge")
    out = dbs[0]
    for db in dbs[1:]:
        out = out.merged(db)
    out.name = name or out.name
    return out


def resolve_profile(spec: str, batch: int | None = None,
                    dirs: Iterable[Path] | None = None) -> ProfileDB:
    """The database that ``profile:<spec>`` names, for graphs of ``batch``.

    ``spec`` is a file, a folder (all databases in it), or a name: every ``<name>-*.json`` (and
    ``<name>.json``) in the profile folders whose batch is ``batch``, merged into one.
    """
    spec = spec.removeprefix("profile:")
    path = Path(spec).expanduser()
    if path.is_file():
        db = ProfileDB.load(path)
        if batch is not None and db.key.batch != batch:
            raise ProfileError(f"profile {path} was measured at batch {db.key.batch}, "
                               f"not {batch}; profile this batch size or pick another file")
        return db
    if path.is_dir():
        candidates = _profile_files(path)
        name = path.name
    else:
        if os.sep in spec or spec.endswith(".json"):
            raise ProfileError(f"profile file {spec} does not exist")
        candidates = []
        for folder in dirs if dirs is not None else profile_dirs():
            candidates += [p for p in _profile_files(Path(folder), spec)
                           if p.name.removesuffix(".json") == spec
                           or p.name.startswith(spec + "-")]
        name = spec
    dbs = [ProfileDB.load(p) for p in candidates]
    if not dbs:
        raise ProfileError(f"no profile named {spec!r} (looked in "
                           + ", ".join(str(d) for d in (dirs or profile_dirs())) + ")")
    matching = [db for db in dbs if batch is None or db.key.batch == batch]
    if not matching:
        have = sorted({db.key.batch for db in dbs})
        raise ProfileError(f"profile {spec!r} has no measurements at batch {batch} (it has batch "
                           f"{', '.join(map(str, have))}); use --cost simulated:... or run "
                           "`python -m ios_core profile` at this batch")
    if batch is None and len({db.key.batch for db in matching}) > 1:
        raise ProfileError(f"profile {spec!r} covers several batch sizes; say which one")
    return merge_dbs(matching, name=name)


# ---- the cost model -----------------------------------------------------------------------------
class ProfileCost:
    """Stage latencies from a :class:`ProfileDB`; the ``fallback`` estimates what it lacks.

    Answers from the fallback carry ``estimated=True``, which schedules, the CLI and the app show.
    ``hits`` / ``misses`` count distinct signatures asked. A merge stage that ends in its concat
    and is missing (profiles measured before such stages existed) takes the measured latency of
    the same merge without the concat, which the executor makes a view of the wide output: on
    the H200 (2026-12-01) all nine such stages measured within 1.5 % of their merge alone, where
    the concat alone took 2-4 µs (``benchmarks/results/README.md``); ``derived`` counts them.
    """

    def __init__(self, db: ProfileDB, fallback: CostModel | None = None,
                 name: str | None = None) -> None:
        if fallback is None:
            fallback = SimulatedCost("h100")
        self.db = db
        self.fallback = fallback
        self.name = name or f"profile:{db.name or 'custom'}"
        self.device = db.key.device
        self.torch = db.key.torch  # the software the numbers hold for (for Schedule.target)
        self.cudnn = db.key.cudnn
        self.hit_signatures: set[str] = set()
        self.miss_signatures: set[str] = set()
        self.derived_signatures: set[str] = set()  # merge + concat priced as the merge alone
        # answers by op names for the last graph asked: a stage's signature (JSON of its ops,
        # hashed) was a third of a profile-priced search, and the app's pruning sweep asks for
        # the same stages in nine searches of one graph
        self._memo_graph: OpGraph | None = None
        self._memo: dict[tuple[str, tuple[tuple[str, ...], ...]], StageCost] = {}

    @property
    def hits(self) -> int:
        return len(self.hit_signatures)

    @property
    def misses(self) -> int:
        return len(self.miss_signatures)

    @property
    def derived(self) -> int:
        return len(self.derived_signatures)

    def check_graph(self, graph: OpGraph) -> None:
        """Refuse a graph of another batch size or dtype: the numbers would silently be wrong."""
        dtype = graph.inputs[0].dtype if graph.inputs else "float32"
        if graph.batch != self.db.key.batch or dtype != self.db.key.dtype:
            raise ProfileError(
                f"{self.name} was measured at batch {self.db.key.batch} in {self.db.key.dtype}, "
                f"but the model runs at batch {graph.batch} in {dtype}"
            )

    def stage_cost(self, graph: OpGraph, strategy: str,
                   groups: Sequence[Sequence[str]]) -> StageCost:
        if graph is not self._memo_graph or len(self._memo) >= MEMO_LIMIT:
            self._memo_graph, self._memo = graph, {}
        key = (strategy, tuple(tuple(g) for g in groups))
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._stage_cost(graph, strategy, groups)
        return found

    def _stage_cost(self, graph: OpGraph, strategy: str,
                    groups: Sequence[Sequence[str]]) -> StageCost:
        sig = stage_signature(graph, strategy, groups)
        ms = self.db.entries.get(sig)
        if ms is not None:
            self.hit_signatures.add(sig)
            return StageCost(ms)
        ms = self._merge_without_concat(graph, strategy, groups)
        if ms is not None:
            self.derived_signatures.add(sig)
            return StageCost(ms)
        if sig not in self.miss_signatures:  # check once per miss, not on the hot path
            self.check_graph(graph)
            self.miss_signatures.add(sig)
        return StageCost(self.fallback.stage_cost(graph, strategy, groups).ms, estimated=True)

    def _merge_without_concat(self, graph: OpGraph, strategy: str,
                              groups: Sequence[Sequence[str]]) -> float | None:
        """The measured merge of a merge stage that ends in its concat (class docstring)."""
        if strategy != "merge" or len(groups) != 1 or len(groups[0]) < 3:
            return None
        convs, cat = trailing_concat(graph, groups[0])
        if cat is None:
            return None
        return self.db.entries.get(stage_signature(graph, "merge", (tuple(convs),)))


def coverage(db: ProfileDB, signatures: Iterable[str]) -> Mapping[str, int]:
    """How many of ``signatures`` the database holds: ``{"total", "measured", "missing"}``."""
    sigs = set(signatures)
    have = sum(s in db.entries for s in sigs)
    return {"total": len(sigs), "measured": have, "missing": len(sigs) - have}
