"""A process that traces models on request and writes their graphs as JSON.

    python -m ios_core.frontend.trace_worker     # requests on stdin, one JSON object a line

Importing torch and tracing a model hold a Python interpreter for seconds. An interactive tool
(the app) that did them in its own interpreter, even on a background thread, would answer no
click meanwhile; in this process they run beside it, on another core, and the tool reads the
graph back (:mod:`ios_core.ir.graph_file`), never the kernels (a GPU measurement still traces in
its own process: it runs them).

Protocol: the worker imports torch and writes ``{"ready": true}``. Each request
``{"model": "<sample name | package.module:callable>", "batch": int, "leaves": [module paths],
"regions": bool, "out": "<file>"}`` (``regions``: the graph with its elementwise chains fused,
:func:`~ios_core.frontend.regions.fuse_regions`; optional, false by default) is answered by one
line, ``{"ok": true}`` once the graph is in ``out``, or
``{"error": "<type>: <message>"}``. The model's own prints go to stderr, so they cannot break
the protocol. The worker ends when its stdin closes (its parent ended).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

from ios_core.ir.files import atomic_write_text
from ios_core.ir.graph_file import graph_to_json


def serve(requests: TextIO, replies: TextIO) -> None:
    """Answer every request on ``requests`` (see the module docstring) on ``replies``."""
    import torch  # noqa: F401 - the slow import, once, before the first request

    from ios_core.frontend.models import load_model
    from ios_core.frontend.regions import fuse_regions
    from ios_core.frontend.tracing import trace_model

    _reply(replies, {"ready": True})
    for line in requests:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            loaded = load_model(str(request["model"]), batch=int(request["batch"]))
            traced = trace_model(loaded.module, loaded.example_input, name=loaded.name,
                                 leaf_modules=tuple(request.get("leaves", ())))
            if request.get("regions"):
                traced = fuse_regions(traced)
            atomic_write_text(request["out"], json.dumps(graph_to_json(traced.graph)))
            answer: dict[str, Any] = {"ok": True}
        except Exception as e:  # noqa: BLE001 - a model that fails is answered, not fatal
            answer = {"error": f"{type(e).__name__}: {e}"}
        _reply(replies, answer)


def _reply(replies: TextIO, answer: dict[str, Any]) -> None:
    replies.write(json.dumps(answer) + "\n")
    replies.flush()


def main() -> int:
    # replies go to the real stdout; anything the model prints goes to stderr
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr
    serve(sys.stdin, replies)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
