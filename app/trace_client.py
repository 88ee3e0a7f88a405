"""The app's side of the trace worker (:mod:`ios_core.frontend.trace_worker`).

The app's pages need a model's OpGraph, never its kernels (but for a live-GPU measurement). They
get it from one worker process per server, which imports torch once and traces beside the
server, so that no click waits for torch's import or a trace holding the server's interpreter
(on a 2-core machine that made clicks during the background warm-up take 1-2 s). Every answer
is kept by (model, batch), so the warm-up's request and a page's later one trace once.

:meth:`TraceWorker.graph_data` returns the graph as ``ios-graph/1`` data (the backend, the app's
one door to ``ios_core``, turns it into an OpGraph), or None whenever the worker cannot answer (it
could not start, died, or the model failed there): the caller then traces in its own process,
which raises the frontend's own error with its advice.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

WORKER = [sys.executable, "-m", "ios_core.frontend.trace_worker"]


class TraceWorker:
    """One worker process, started on first use; requests go one at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="ios-graphs-"))  # private (0700), this server's
        self._done: dict[tuple[str, int, tuple[str, ...], bool], Path | None] = {}
        self.failed = ""  # why the worker is unusable, once it is

    def start(self) -> None:
        """Start the worker now (it imports torch at once), not at the first request."""
        with self._lock:
            self._process()

    def prefetch(self, model: str, batch: int, leaves: Sequence[str] = (),
                 regions: bool = False) -> None:
        """Ask for a graph without waiting: a later :meth:`graph_data` finds it traced, or
        waits for the trace under way."""
        if (model, batch, tuple(leaves), regions) not in self._done and not self.failed:
            threading.Thread(target=self.graph_data, args=(model, batch, leaves, regions),
                             name="ios-trace-prefetch", daemon=True).start()

    def answered(self, model: str, batch: int, leaves: Sequence[str] = (),
                 regions: bool = False) -> bool:
        """Whether :meth:`graph_data` would answer at once (traced, failed, or no worker)."""
        return bool(self.failed) or (model, batch, tuple(leaves), regions) in self._done

    def graph_data(self, model: str, batch: int, leaves: Sequence[str] = (),
                   regions: bool = False) -> Any:
        """The traced graph of ``model`` at ``batch`` as ``ios-graph/1`` data (with its
        elementwise chains fused into regions where ``regions``), or None where the worker
        cannot say."""
        key = (model, batch, tuple(leaves), regions)
        with self._lock:  # a second asker of the same graph waits for the first's answer
            if key not in self._done:
                self._done[key] = self._ask(*key)
            path = self._done[key]
        if path is None:
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def _ask(self, model: str, batch: int, leaves: tuple[str, ...], regions: bool
             ) -> Path | None:
        proc = self._process()
        if proc is None or proc.stdin is None or proc.stdout is None:
            return None
        out = self._dir / f"graph-{len(self._done)}.json"
        request = {"model": model, "batch": batch, "leaves": list(leaves), "regions": regions,
                   "out": str(out)}
        try:
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
            while line := proc.stdout.readline():  # blocks without holding the interpreter
                answer = json.loads(line)
                if "ready" not in answer:
                    return out if answer.get("ok") else None
        except (OSError, ValueError):
            pass
        self.failed = "the trace worker stopped"
        self.close()
        return None

    def _process(self) -> subprocess.Popen[str] | None:
        if self._proc is None and not self.failed:
            # the worker imports the models as this process does: same folders first
            path = os.pathsep.join(p for p in sys.path if p)
            try:
                self._proc = subprocess.Popen(
                    WORKER, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONPATH": path})
            except OSError as e:
                self.failed = f"the trace worker could not start: {e}"
        return self._proc

    def close(self) -> None:
        """End the worker and remove its files."""
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
        shutil.rmtree(self._dir, ignore_errors=True)
