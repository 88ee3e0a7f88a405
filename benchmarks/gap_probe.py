"""Global average pooling of NHWC tensors on this GPU: PyTorch's kernels against the alternatives.

    python -m benchmarks.gap_probe --out-dir $OUT

The kernel census of the zoo (``benchmarks/results/h200-kernel-census-zoo.md``) puts 117 µs of
efficientnet_b0's 557 µs of kernels, and 61 µs of mobilenet_v3_large's, in the reduction kernels
of their global average pools (the squeeze of every squeeze-excitation block) on NHWC tensors,
where Inductor's fused reductions took about 2 µs each. For every global average pool of the
given models (batch 1 unless ``--batch``), on its input shape: the pool on an NCHW tensor, on an
NHWC tensor (PyTorch's kernel, what the executor runs), ``mean`` over H and W, one 3-d average
pool over the (N, 1, H, W, C) view, and one matrix-vector product with a row of 1/(H·W) over the
(N, H·W, C) view. Each variant runs ``UNROLL`` times in one CUDA graph; the median of the
graph's replays over ``UNROLL`` is one call's latency; every output is compared with the NCHW
pool's. Writes ``gap_probe.json`` / ``.md``; prints the table last.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks.harness import PROBE_UNROLL, environment, layout_variants, require_cuda
from benchmarks.report import Report, Row, add_out_dir, argument_parser, out_dir, table, versions
from ios_core.frontend import models
from ios_core.frontend import tracing as frontend

UNROLL = PROBE_UNROLL


def shapes(model: str, batch: int) -> list[tuple[int, ...]]:
    """Distinct input shapes of the model's global average pools."""
    loaded = models.load_model(model, batch=batch, seed=0)
    graph = frontend.trace_model(loaded.module, loaded.example_input, name=loaded.name).graph
    found: list[tuple[int, ...]] = []
    for node in graph.nodes:
        if node.kind == "pool" and node.attrs.get("mode") in ("global_avg", "adaptive_avg"):
            shape = tuple(graph.shape_of(node.inputs[0]))
            if node.shape[-2:] == (1, 1) and shape not in found:
                found.append(shape)
    return found


def _matvec(x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    rows = x.permute(0, 2, 3, 1).reshape(n, h * w, c)  # a view of an NHWC tensor
    weights = torch.full((n, 1, h * w), 1.0 / (h * w), device=x.device, dtype=x.dtype)
    return torch.bmm(weights, rows).view(n, c, 1, 1)


def _pool3d(x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    cells = x.permute(0, 2, 3, 1).unsqueeze(1)  # (N, 1, H, W, C), contiguous
    return F.avg_pool3d(cells, (h, w, 1)).view(n, c, 1, 1)


VARIANTS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], bool]] = {
    "nchw": (lambda x: F.adaptive_avg_pool2d(x, 1), False),
    "nhwc": (lambda x: F.adaptive_avg_pool2d(x, 1), True),
    "nhwc mean": (lambda x: x.mean((2, 3), keepdim=True), True),
    "nhwc pool3d": (_pool3d, True),
    "nhwc matvec": (_matvec, True),
}



def markdown(rows: list[Row], header: dict[str, Any]) -> str:
    lines = [f"# Global average pooling of NHWC tensors on {header['device']}", "",
             f"{versions(header)}, batch {header['batch']}, fp32; µs per call (median of 50 "
             f"graph replays of {UNROLL} calls); max |error| against NCHW in brackets.", "",
             *table(["model", "input", *VARIANTS],
                    ([r["model"], "x".join(map(str, r["shape"])),
                      *(f"{r[n]['us']:.1f} ({r[n]['max_abs_err']:.0e})" for n in VARIANTS)]
                     for r in rows))]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = argument_parser("benchmarks.gap_probe", __doc__)
    p.add_argument("--models", nargs="+", default=["sample_models.zoo:efficientnet_b0",
                                                   "sample_models.zoo:mobilenet_v3_large"])
    p.add_argument("--batch", type=int, default=1)
    add_out_dir(p)
    args = p.parse_args(argv)
    if not require_cuda("the global average pool probe"):
        return 2
    header = {**environment(), "batch": args.batch}
    report = Report(out_dir(args.out_dir), "gap_probe", header,
                    lambda data: markdown(data["rows"], data))
    for model in args.models:
        for shape in shapes(model, args.batch):
            x = torch.randn(shape, device="cuda")
            want = F.adaptive_avg_pool2d(x, 1)
            report.add({"model": model, "shape": list(shape),
                        **layout_variants(VARIANTS, x, want)})
    print(markdown(report.rows, header), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
