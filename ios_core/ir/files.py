"""Writing result files safely."""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename, so an interrupted run
    (profiling, a benchmark cut at its time limit) never leaves a torn file behind. The temporary
    name is unique, so two processes writing one file (a shared schedule cache) never mix their
    bytes: the last rename wins."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a unique name made by hand, not mkstemp: that would make the file private (mode 0600)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
