"""2-d pooling of NHWC tensors on this GPU: PyTorch's own kernel against the alternatives.

    python -m benchmarks.pool_probe --out-dir $OUT

For every max/avg pool of the sample models (batch 1 unless ``--batch``), on its real input shape:
the pool on an NCHW tensor, on an NHWC tensor (PyTorch's channels_last kernel), through
:class:`ios_core.runtime.nhwc_pool.NhwcPool` (one 3-d pool over the (N, 1, H, W, C) view), and NHWC
-> NCHW -> pool -> NHWC. Each variant runs ``UNROLL`` times in one CUDA graph; the median of the
graph's replays over ``UNROLL`` is one call's latency. Every variant's output is compared with
the module's on the NCHW tensor. Writes ``pool_probe.json`` / ``.md``; prints the table last.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from benchmarks.harness import PROBE_UNROLL, environment, layout_variants, require_cuda
from benchmarks.report import Report, Row, add_out_dir, argument_parser, out_dir, table, versions
from ios_core.frontend import models
from ios_core.frontend import tracing as frontend
from ios_core.runtime.nhwc_pool import NhwcPool, nhwc_poolable  # (max and avg pools)

UNROLL = PROBE_UNROLL
CL = torch.channels_last


def pools(model: str, batch: int) -> list[tuple[str, torch.nn.Module, tuple[int, ...]]]:
    """(node name, pooling module, input shape) of every poolable op of ``model``."""
    loaded = models.load_model(model, batch=batch, seed=0)
    traced = frontend.trace_model(loaded.module, loaded.example_input, name=loaded.name)
    found, seen = [], set()
    for node in traced.graph.nodes:
        call = getattr(getattr(traced.kernels[node.name], "fn", None), "expr", None)
        module = getattr(getattr(call, "fn", None), "module", None)
        if node.kind != "pool" or not nhwc_poolable(module):
            continue
        shape = traced.graph.shape_of(node.inputs[0])
        if (repr(module), shape) not in seen:  # identical pools on identical shapes: once
            seen.add((repr(module), shape))
            found.append((node.name, module, shape))
    return found


def variants(module: torch.nn.Module) -> dict[str, tuple[Callable, bool]]:
    """name -> (function, takes the NHWC tensor)."""
    fast = NhwcPool(module)
    return {"nchw": (module, False), "nhwc": (module, True), "nhwc pool3d": (fast, True),
            "nhwc via nchw": (lambda x: module(x.contiguous()).contiguous(memory_format=CL), True)}



def markdown(rows: list[Row], header: dict[str, Any]) -> str:
    names = list(variants(torch.nn.MaxPool2d(2)))
    lines = [f"# NHWC pooling on {header['device']}", "",
             f"{versions(header)}, batch {header['batch']}, fp32; µs per call "
             f"(median of 50 graph replays of {UNROLL} calls); max |error| against NCHW in "
             "brackets.", "",
             *table(["model", "op", "input", *names],
                    ([r["model"], r["op"], "x".join(map(str, r["shape"])),
                      *(f"{r[n]['us']:.1f} ({r[n]['max_abs_err']:.0e})" for n in names)]
                     for r in rows))]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = argument_parser("benchmarks.pool_probe", __doc__)
    p.add_argument("--models", nargs="+", default=["squeezenet", "inception_v3", "nasnet"])
    p.add_argument("--batch", type=int, default=1)
    add_out_dir(p)
    args = p.parse_args(argv)
    if not require_cuda("the pool probe"):
        return 2
    header = {**environment(), "batch": args.batch}
    report = Report(out_dir(args.out_dir), "pool_probe", header,
                    lambda data: markdown(data["rows"], data))
    for model in args.models:
        for name, module, shape in pools(model, args.batch):
            x = torch.randn(shape, device="cuda")
            want = module(x)
            report.add({"model": model, "op": name, "pool": repr(module), "shape": list(shape),
                        **layout_variants(variants(module), x, want)})
    print(markdown(report.rows, header), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
