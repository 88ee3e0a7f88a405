"""2-d pooling of NHWC tensors on this GPU: PyTorch's own kernel against the alternatives.

    PYTHONPATH=. python3 benchmarks/pool_probe.py --out-dir $OUT

For every max/avg pool of the sample models (batch 1 unless ``--batch``), on its real input shape:
the pool on an NCHW tensor, on an NHWC tensor (PyTorch's channels_last kernel), through
:class:`ios_core.runtime.nhwc_pool.NhwcPool` (one 3-d pool over the (N, 1, H, W, C) view), and NHWC
-> NCHW -> pool -> NHWC. Each variant runs ``UNROLL`` times in one CUDA graph; the median of the
graph's replays over ``UNROLL`` is one call's latency. Every variant's output is compared with
the module's on the NCHW tensor. Writes ``pool_probe.json`` / ``.md``; prints the table last.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from ios_core.frontend import models  # noqa: E402
from ios_core.frontend import tracing as frontend  # noqa: E402
from ios_core.ir.files import atomic_write_text  # noqa: E402
from ios_core.runtime.engine import capture  # noqa: E402
from ios_core.runtime.nhwc_pool import NhwcPool, nhwc_poolable  # noqa: E402  (max and avg pools)
from ios_core.runtime.timing import time_samples  # noqa: E402

UNROLL = 20
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


def latency_us(fn: Callable, x: torch.Tensor) -> float:
    graph, _ = capture(lambda: [fn(x) for _ in range(UNROLL)])
    return time_samples(graph, 10, 50).median_ms * 1e3 / UNROLL


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["squeezenet", "inception_v3", "nasnet"])
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--out-dir", default=os.environ.get("OUT") or "benchmarks/results")
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("error: the pool probe runs on a CUDA GPU, and torch sees none", file=sys.stderr)
        return 2
    header = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
              "batch": args.batch,
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    rows = []
    for model in args.models:
        for name, module, shape in pools(model, args.batch):
            x = torch.randn(shape, device="cuda")
            want = module(x)
            row = {"model": model, "op": name, "pool": repr(module), "shape": list(shape)}
            for label, (fn, nhwc) in variants(module).items():
                xin = x.contiguous(memory_format=CL) if nhwc else x
                with torch.no_grad():
                    err = (fn(xin) - want).abs().max().item()
                    row[label] = {"us": latency_us(fn, xin), "max_abs_err": err}
            rows.append(row)
    names = list(variants(torch.nn.MaxPool2d(2)))
    lines = [f"# NHWC pooling on {header['device']}", "",
             f"torch {header['torch']}, {header['date']}, batch {args.batch}, fp32; µs per call "
             f"(median of 50 graph replays of {UNROLL} calls); max |error| against NCHW in "
             "brackets.", "", "| model | op | input | " + " | ".join(names) + " |",
             "|---|---|---|" + "---|" * len(names)]
    for r in rows:
        cells = [f"{r[n]['us']:.1f} ({r[n]['max_abs_err']:.0e})" for n in names]
        lines.append(f"| {r['model']} | {r['op']} | {'x'.join(map(str, r['shape']))} | "
                     + " | ".join(cells) + " |")
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "pool_probe.json", json.dumps({**header, "rows": rows}, indent=1))
    atomic_write_text(out / "pool_probe.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
