"""Re-key a shipped profile database after the frontend changed how it describes operators.

The measurements stay as they were; only their keys move. Each database entry carries the stage it
was measured for (model, strategy, op-name groups), so its signature can be recomputed on the graph
the current frontend builds. The schedules found on the GPU next to the database get the new model
fingerprint. Run from the repository root, e.g.::

    python -m benchmarks.rekey_profiles ios_core/data/profiles/h100-nasnet-b1.json
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from benchmarks.report import argument_parser
from ios_core.cost.profile_db import SCHEDULE_SUFFIX, ProfileDB
from ios_core.frontend.models import load_model
from ios_core.frontend.tracing import trace
from ios_core.ir.graph import OpGraph, stage_signature


def rekey(path: Path) -> None:
    """Re-key the database at ``path`` in place, and update its schedules' fingerprints."""
    db = ProfileDB.load(path)
    graphs: dict[str, OpGraph] = {}
    for info in db.models:
        loaded = load_model(info["name"], batch=db.key.batch)
        graphs[info["name"]] = trace(loaded.module, loaded.example_input, name=loaded.name)
    entries, stages, moved = {}, {}, 0
    for old, ms in db.entries.items():
        label = db.stages.get(old)
        if label is None:
            raise SystemExit(f"{path}: entry {old} has no stage label; it cannot be re-keyed")
        model, strategy, groups = label[0], label[1], label[2]
        new = stage_signature(graphs[model], strategy, groups)
        moved += new != old
        entries[new], stages[new] = ms, label
    db.entries, db.stages = entries, stages
    for info in db.models:
        info["fingerprint"] = graphs[info["name"]].fingerprint()
    db.save(path)
    print(f"{path}: {moved} of {len(entries)} signatures re-keyed")
    for schedule_path in sorted(path.parent.glob(path.stem + ".*" + SCHEDULE_SUFFIX)):
        data = json.loads(schedule_path.read_text())
        data["model"]["fingerprint"] = graphs[data["model"]["name"]].fingerprint()
        schedule_path.write_text(json.dumps(data, indent=1))
        print(f"{schedule_path}: fingerprint updated")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argument_parser("benchmarks.rekey_profiles", __doc__)
    parser.add_argument("databases", nargs="+", type=Path)
    for path in parser.parse_args(argv).databases:
        rekey(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
