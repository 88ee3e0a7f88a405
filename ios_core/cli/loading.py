"""Load and trace the model a command names, refusing what cannot fit in memory before it starts.

Tracing runs the model once on its example input, so a large ``--batch`` can exhaust memory in
the trace itself. :func:`load_traced` therefore estimates before it traces:

1. for a sample model, the example input's own size is known before anything is built, and an
   input that does not fit twice over (itself and at least one activation as large) is refused;
2. when the batch is large enough to matter (the input times :data:`PROBE_FACTOR`, plus the
   weights, would not fit in the memory to be had), the model is first traced on one sample
   (``example[:1]``: the same module, no second build), and the trace at the full batch is refused
   when its estimate (activations scaled by the batch, see :func:`~ios_core.cli.memory.trace_need`)
   does not fit. Small batches skip this probe, so the common case costs nothing extra.

No CNN seen here keeps more than about 100 times its input alive at once, so a factor of 1000
sends every batch that could come near the limit through the probe.
"""

from __future__ import annotations

import argparse
import gc
import math
from collections.abc import Callable
from typing import Any

from ios_core.cli.errors import CliError
from ios_core.cli.memory import (
    MemoryNeed,
    available_bytes,
    format_bytes,
    itemsize,
    module_bytes,
    trace_need,
)

__all__ = [
    "PROBE_FACTOR", "add_fuse_epilogues_option", "add_leaf_module_option", "example_bytes",
    "load_traced", "refuse_if_too_big", "to_device",
]

PROBE_FACTOR = 1000  # input bytes x this (+ weights) beyond the memory to be had: probe first


def add_leaf_module_option(parser: argparse.ArgumentParser, rebuilds: bool = False) -> None:
    """``--leaf-module NAME|Class`` (repeatable) on a command that traces a model (read by
    :func:`load_traced`); ``rebuilds``: a command that rebuilds a schedule's model, whose file
    records the leaf modules it was traced with."""
    default = (" (default: those the schedule was traced with)" if rebuilds else "")
    parser.add_argument(
        "--leaf-module", action="append", default=None, metavar="NAME|Class",
        help="keep this submodule whole, as one opaque op, when tracing: its qualified name "
             "(cells.3.gate) or its class name (Gate); repeatable. For modules torch.fx cannot "
             "trace (the error names them) or that you want opaque" + default)


def add_fuse_epilogues_option(parser: argparse.ArgumentParser, rebuilds: bool = False) -> None:
    """``--fuse-epilogues`` on a command that traces a model (:mod:`ios_core.runtime.fuse_switch`):
    fused regions after the trace, and the engine's ``fuse_epilogues`` lever; ``rebuilds``: a
    command that rebuilds a schedule's model, whose file records the switch."""
    default = (" A schedule made with it records it and is rebuilt with it without this flag; "
               "the flag is for files that lack the record" if rebuilds else
               " `optimize` records it in the schedule file")
    parser.add_argument(
        "--fuse-epilogues", action="store_true",
        help="fuse each conv/linear/pool and the elementwise ops only it feeds (scale-shift, "
             "activation, residual add, gating) into one operator, and run its elementwise work "
             "as one compiled kernel (torch.compile, on CUDA)." + default)


def example_bytes(example: Any) -> int:
    """Bytes of an example input: a tensor or a tuple of tensors."""
    items = example if isinstance(example, (tuple, list)) else (example,)
    return sum(x.numel() * x.element_size() for x in items)


def _first_sample(example: Any) -> Any:
    """The example input cut to batch 1 (every tensor's dim 0)."""
    if isinstance(example, (tuple, list)):
        return tuple(x[:1] for x in example)
    return example[:1]


def to_device(example: Any, device: str) -> tuple[Any, ...]:
    """The example input as a tuple of tensors on ``device`` (to call a compiled schedule)."""
    items = example if isinstance(example, (tuple, list)) else (example,)
    return tuple(x.to(device) for x in items)


def refuse_if_too_big(need: MemoryNeed, device: str, hint: str) -> None:
    """Raise CliError, with the estimate and the limit, when ``need`` exceeds ``device``'s."""
    have = available_bytes(device)
    if have is not None and need.total > have:
        where = "this machine's available memory" if device == "cpu" else f"free on {device}"
        raise CliError(f"{need.task} needs {need.describe()}, but only {format_bytes(have)} is "
                       f"{where}; {hint}")


def _batch_hint(need: MemoryNeed, device: str, batch: int) -> str:
    """``use a smaller --batch (at most about N fits here)``."""
    have = available_bytes(device)
    per_sample = need.activations / max(batch, 1)
    if have is None or per_sample <= 0 or have <= need.weights:
        return "use a smaller --batch"
    fits = int((have - need.weights) // per_sample)
    if fits < 1:
        return "this model does not fit here even at batch 1"
    return f"use a smaller --batch (at most about {fits} fits here)"


def _precheck_sample_input(ref: str, batch: int) -> None:
    """Refuse a sample model's example input that cannot fit, before anything is built."""
    from ios_core.frontend.models import list_models

    shapes = {name: shape for name, shape, _ in list_models()}
    if ref not in shapes:
        return
    size = batch * math.prod(shapes[ref]) * itemsize("float32")
    need = MemoryNeed(f"the example input of {ref} at batch {batch}", 0, 2 * size)
    refuse_if_too_big(need, "cpu", "use a smaller --batch")


Plan = Callable[[Any, int], list[tuple[str, MemoryNeed]]]  # (graph, weights) -> [(where, need)]


def load_traced(args: argparse.Namespace, ref: str, batch: int, say: Callable[[str], None],
                plan: Plan | None = None) -> tuple[Any, Any]:
    """``(LoadedModel, TracedModel)`` of ``ref`` at ``batch``, with ``--seed`` and ``--leaf-module``
    from ``args``; refuses (CliError) a trace that cannot fit in memory (module docstring).

    ``plan`` gives the needs of what the command will do with the traced model (run a schedule,
    check it); where the batch-1 probe runs, they are checked too, scaled to ``batch``, so that a
    run that cannot fit is refused before the long trace rather than after it.
    """
    from ios_core.frontend import trace_model
    from ios_core.frontend.models import load_model

    seed = getattr(args, "seed", 0)
    leaves = tuple(getattr(args, "leaf_module", None) or ())
    _precheck_sample_input(ref.strip(), batch)
    say(f"loading {ref} at batch {batch}")
    try:
        loaded = load_model(ref, batch=batch, seed=seed)
    except MemoryError:
        raise CliError(f"not enough memory to build {ref} at batch {batch}; use a smaller --batch"
                       ) from None
    except RuntimeError as e:  # the allocator: "DefaultCPUAllocator: can't allocate memory"
        if "alloc" not in str(e) and "memory" not in str(e):
            raise
        raise CliError(f"not enough memory to build {ref} at batch {batch} "
                       f"({str(e).splitlines()[0]}); use a smaller --batch") from None
    weights = module_bytes(loaded.module)
    if batch > 1:
        _probe(loaded, weights, batch, leaves, say, plan)
    say(f"tracing {loaded.name} at batch {batch}")
    traced = trace_model(loaded.module, loaded.example_input, name=loaded.name,
                         leaf_modules=leaves)
    return loaded, traced


def _probe(loaded: Any, weights: int, batch: int, leaves: tuple[Any, ...],
           say: Callable[[str], None], plan: Plan | None) -> None:
    """Trace one sample and refuse the full batch when its estimate cannot fit (docstring above)."""
    from ios_core.frontend import trace_model

    have = available_bytes("cpu")
    if have is None or example_bytes(loaded.example_input) * PROBE_FACTOR + 2 * weights <= have:
        return
    say(f"estimating the memory of {loaded.name} at batch {batch} from a trace at batch 1")
    try:
        probe = trace_model(loaded.module, _first_sample(loaded.example_input), name=loaded.name,
                            leaf_modules=leaves)
    except Exception:  # noqa: BLE001 - the trace at full batch reports its own error plainly
        return
    need = trace_need(probe.graph, weights, batch, loaded.name)
    later: list[tuple[str, MemoryNeed]] = []
    if plan is not None:
        try:
            later = [(where, n.scaled(batch)) for where, n in plan(probe.graph, weights)]
        except KeyError:  # the schedule names operators this model lacks: validation says so
            later = []
    del probe
    gc.collect()
    refuse_if_too_big(need, "cpu", _batch_hint(need, "cpu", batch))
    for where, n in later:
        refuse_if_too_big(n, where, f"the schedule is for batch {batch} and runs only at that "
                          "batch: optimize a smaller batch, or run it where there is more memory")
