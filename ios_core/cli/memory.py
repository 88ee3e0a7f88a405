"""Memory a command will need, estimated from the graph before it starts, and memory to be had.

The CLI refuses, with both figures, a trace, a schedule run or a check that cannot fit, instead of
starting it and dying in the allocator (or swapping for minutes). The estimates come from the
:class:`~ios_core.ir.graph.OpGraph`'s shapes:

* **activations**: the peak of the bytes alive at once when the graph runs one operator (or one
  stage of a schedule) at a time; a tensor lives from the step that writes it to the last step
  that reads it, graph inputs from the start, graph outputs to the end (:func:`peak_bytes`);
* **weights**: the module's parameters and buffers (:func:`module_bytes`).

Each command's need is a sum of those with factors that say what it holds at once
(:func:`trace_need`, :func:`run_need`), set from the peak resident memory of ``optimize``, ``run``
and ``run --check`` on Inception V3 on the CPU (torch 2.13, batch 16, 64 and 1000), over what
the process held before the step: tracing took 0.8x to 0.9x its estimate; a schedule run about
four times the graph's stage peak (NHWC copies, prepacked and merged weights, the compiled
schedule's static buffers), which :data:`RUN_FACTOR` covers; a check 0.85x to 0.9x its estimate.

The memory to be had (:func:`available_bytes`) is the CPU's available memory (``MemAvailable``,
capped by a cgroup limit) or a CUDA device's free memory.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ios_core.ir.graph import OpGraph
from ios_core.ir.schedule import Stage

__all__ = [
    "RUN_FACTOR", "MemoryNeed", "available_bytes", "cpu_available_bytes", "eager_bytes",
    "format_bytes", "itemsize", "largest_tensor_bytes", "measure_need", "module_bytes",
    "peak_bytes", "run_need", "trace_need",
]

RUN_FACTOR = 4  # a schedule run holds about this many times the stage peak (measured: above)

_ITEMSIZE = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int64": 8, "int32": 4,
             "int16": 2, "int8": 1, "uint8": 1, "bool": 1}


def itemsize(dtype: str) -> int:
    """Bytes per element of a dtype named as in a TensorSpec (4 when unknown).

    >>> itemsize("float16"), itemsize("torch.float64"), itemsize("?")
    (2, 8, 4)
    """
    return _ITEMSIZE.get(str(dtype).removeprefix("torch."), 4)


def format_bytes(n: float) -> str:
    """A byte count for people, in powers of 1024.

    >>> format_bytes(512), format_bytes(3 * 2**20), format_bytes(2.5 * 2**40)
    ('512 B', '3.0 MiB', '2.5 TiB')
    """
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


# ---- estimates from the graph -------------------------------------------------------------------
def _sizes(graph: OpGraph) -> dict[str, int]:
    """Bytes of every graph input and op output; a view aliases its source, so it is free."""
    item = itemsize(graph.inputs[0].dtype) if graph.inputs else 4
    sizes = {s.name: math.prod(s.shape) * item for s in graph.inputs}
    sizes.update({n.name: 0 if n.attrs.get("view") else math.prod(n.shape) * item
                  for n in graph.nodes})
    return sizes


def peak_bytes(graph: OpGraph, stages: Sequence[Stage] | None = None) -> int:
    """Peak bytes of activations alive at once, running one op, or one of ``stages``, at a time.

    >>> from ios_core.ir.graph import OpNode, TensorSpec
    >>> g = OpGraph("g", (TensorSpec("x", (1, 4)),),            # 16 bytes each
    ...             (OpNode("a", "act", ("x",), (1, 4)), OpNode("b", "act", ("a",), (1, 4)),
    ...              OpNode("c", "add", ("a", "b"), (1, 4))), ("c",))
    >>> peak_bytes(g)                                           # x, a, b alive when b runs
    48
    >>> peak_bytes(g, [Stage("concurrent", (("a", "b"), ("c",)))])   # all four in one stage
    64
    """
    steps = ([(n.name,) for n in graph.nodes] if stages is None
             else [st.ops for st in stages])
    sizes = _sizes(graph)
    last: dict[str, int] = {}  # tensor -> the last step that reads it
    for i, names in enumerate(steps):
        for name in names:
            for src in graph[name].inputs:
                last[src] = max(last.get(src, -1), i)
    for out in graph.outputs:
        last[out] = len(steps)
    freed = [0] * (len(steps) + 1)
    for name, i in last.items():
        freed[i] += sizes.get(name, 0)
    live = peak = sum(sizes[s.name] for s in graph.inputs)
    for i, names in enumerate(steps):
        live += sum(sizes[n] for n in names)
        peak = max(peak, live)
        live -= freed[i] + sum(sizes[n] for n in names if n not in last)  # never read: dropped
    return peak


def largest_tensor_bytes(graph: OpGraph) -> int:
    """Bytes of the largest op output (an eager run also makes the ones the IR fuses away).

    >>> from ios_core.ir.graph import OpNode, TensorSpec
    >>> largest_tensor_bytes(OpGraph("g", (TensorSpec("x", (2, 3)),),
    ...                              (OpNode("a", "act", ("x",), (2, 3)),), ("a",)))
    24
    """
    return max(_sizes(graph).values(), default=0)


def module_bytes(module: Any) -> int:
    """Bytes of a torch module's parameters and buffers (shared ones once)."""
    seen: set[int] = set()
    total = 0
    for t in (*module.parameters(), *module.buffers()):
        if id(t) not in seen:
            seen.add(id(t))
            total += t.numel() * t.element_size()
    return total


@dataclass(frozen=True)
class MemoryNeed:
    """What a task will allocate, in bytes, split as the refusal message reports it."""

    task: str  # "tracing inception_v3 at batch 1000"
    weights: int
    activations: int

    @property
    def total(self) -> int:
        return self.weights + self.activations

    def scaled(self, batch: int) -> MemoryNeed:
        """The need at ``batch`` of one estimated at batch 1: activations grow with the batch.

        >>> MemoryNeed("t", 10, 3).scaled(4)
        MemoryNeed(task='t', weights=10, activations=12)
        """
        return replace(self, activations=self.activations * batch)

    def describe(self) -> str:
        """``about 23.1 GiB (activations 23.0 GiB, weights 95.5 MiB)``.

        >>> MemoryNeed("t", 0, 2**30).describe()
        'about 1.0 GiB'
        """
        if not self.weights:
            return f"about {format_bytes(self.total)}"
        return (f"about {format_bytes(self.total)} (activations {format_bytes(self.activations)}, "
                f"weights {format_bytes(self.weights)})")


def eager_bytes(graph: OpGraph) -> int:
    """Activations of one eager forward of the model: the graph's peak plus two of its largest
    tensors, for the BatchNorm and activation outputs that the graph fuses into their conv."""
    return peak_bytes(graph) + 2 * largest_tensor_bytes(graph)


def trace_need(graph: OpGraph, weights: int, batch: int, name: str) -> MemoryNeed:
    """Memory to trace the model at ``batch``, from ``graph`` traced at batch ``graph.batch``.

    Activations scale with the batch; tracing runs the model eagerly once and keeps a second copy
    of the weights (BatchNorm folded into the kernels).
    """
    scale = batch / max(graph.batch, 1)
    return MemoryNeed(f"tracing {name} at batch {batch}", weights,
                      int(math.ceil(eager_bytes(graph) * scale)))


def measure_need(graph: OpGraph, weights: int, name: str) -> MemoryNeed:
    """GPU memory to measure ``graph``'s stages one at a time (``--cost measured``): the
    kernels' weights, with their folded and merged copies, and at most the activations of one
    forward of the graph."""
    return MemoryNeed(f"measuring the stages of {name} on cuda", 2 * weights, peak_bytes(graph))


def run_need(graph: OpGraph, stages: Iterable[Stage], weights: int, *, check: bool,
             device: str, name: str) -> list[tuple[str, MemoryNeed]]:
    """Memory to run a schedule (and, with ``check``, its float64 reference) as ``(where, need)``.

    The schedule holds its lowered kernels (folded, prepacked and merged copies of the weights:
    two more) and :data:`RUN_FACTOR` times the activations of its stages' peak;
    :func:`~ios_core.runtime.executor.check` adds a float64 copy of the module on the CPU and one
    eager float64 forward (twice the float32 bytes each). ``where`` is ``"cpu"`` or ``"cuda"``.
    """
    stages = list(stages)
    run = MemoryNeed(f"running the schedule of {name} on {device}", 2 * weights,
                     RUN_FACTOR * peak_bytes(graph, stages))
    if not check:
        return [(device, run)]
    reference = MemoryNeed(f"checking {name} against its float64 reference", 2 * weights,
                           2 * eager_bytes(graph))
    if device == "cpu":
        both = MemoryNeed(f"checking the schedule of {name} on cpu",
                          run.weights + reference.weights, run.activations + reference.activations)
        return [("cpu", both)]
    return [(device, run), ("cpu", reference)]


# ---- what there is ------------------------------------------------------------------------------
def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def cpu_available_bytes() -> int | None:
    """Memory this process can still take on the CPU: ``MemAvailable``, capped by the cgroup's
    limit less its usage (containers); None where neither can be read (then nothing is refused)."""
    found: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
                break
    except (OSError, ValueError, IndexError):
        pass
    if not found and hasattr(os, "sysconf"):
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError):
            pass
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and usage is not None and limit < 2**60:  # "max": no limit
            found.append(max(limit - usage, 0))
    return min(found) if found else None


def available_bytes(device: str) -> int | None:
    """Free memory on ``device`` ("cpu", "cuda", "cuda:1"); None when it cannot be known."""
    if not device.startswith("cuda"):
        return cpu_available_bytes()
    import torch  # only here: the estimates above are torch-free

    if not torch.cuda.is_available():
        return None
    index = torch.device(device).index
    free, _ = torch.cuda.mem_get_info(torch.cuda.current_device() if index is None else index)
    return int(free)
