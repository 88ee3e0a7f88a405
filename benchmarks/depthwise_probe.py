"""Depthwise convolutions at batch 1 on this GPU: NCHW against NHWC, and NHWC through NCHW.

    python -m benchmarks.depthwise_probe --out-dir $OUT

The kernel census of the zoo (``benchmarks/results/h200-kernel-census-zoo.md``) puts 77 µs of
mobilenet_v3_large's kernels in 7 NHWC depthwise convs (cuDNN's grouped direct kernel, 11 µs
each) where the module's own NCHW forward ran 15 in 47 µs. Whether a per-operator layout pays
depends on what the trip costs: for every distinct depthwise conv of the given models, on its
input shape, the conv on an NCHW tensor, on an NHWC tensor (weights NHWC, as the executor runs
it), and on an NHWC tensor converted to NCHW and back around the conv. Each variant runs
``UNROLL`` times in one CUDA graph (cuDNN's benchmark mode on, as the executor's); the median of
50 replays over ``UNROLL`` is one call. Writes ``depthwise_probe.json`` / ``.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from benchmarks.harness import PROBE_UNROLL, environment, require_cuda, unrolled_call_us
from benchmarks.report import Report, Row, add_out_dir, argument_parser, out_dir, table, versions
from ios_core.frontend import models

UNROLL = PROBE_UNROLL
CL = torch.channels_last
VARIANTS = ("nchw", "nhwc", "nhwc via nchw")


def depthwise(model: str, batch: int) -> list[tuple[nn.Conv2d, tuple[int, ...]]]:
    """(conv, input shape) of every distinct depthwise conv of ``model``."""
    loaded = models.load_model(model, batch=batch, seed=0)
    shapes: dict[str, tuple[int, ...]] = {}

    def seen_input(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: tuple, out: Any) -> None:  # None: output unchanged
            shapes.setdefault(name, tuple(args[0].shape))
        return hook

    hooks = [m.register_forward_hook(seen_input(name)) for name, m in
             loaded.module.named_modules()
             if isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels]
    example = loaded.example_input
    with torch.no_grad():
        loaded.module(*(example if isinstance(example, tuple) else (example,)))
    for h in hooks:
        h.remove()
    found, seen = [], set()
    modules = dict(loaded.module.named_modules())
    for name, shape in shapes.items():
        conv = modules[name]
        key = (conv.in_channels, conv.kernel_size, conv.stride, conv.padding, shape)
        if key not in seen:
            seen.add(key)
            found.append((conv, shape))
    return found



def markdown(rows: list[Row], header: dict[str, Any]) -> str:
    lines = [f"# Depthwise convolutions on {header['device']}", "",
             f"{versions(header)}, batch {header['batch']}, fp32 (TF32 convs); µs per call "
             f"(median of 50 graph replays of {UNROLL} calls).", "",
             *table(["model", "conv", "input", *VARIANTS],
                    ([r["model"], r["conv"], "x".join(map(str, r["shape"])),
                      *(f"{r[v]:.1f}" for v in VARIANTS)] for r in rows))]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = argument_parser("benchmarks.depthwise_probe", __doc__)
    p.add_argument("--models", nargs="+", default=["sample_models.zoo:mobilenet_v3_large",
                                                   "sample_models.zoo:efficientnet_b0"])
    p.add_argument("--batch", type=int, default=1)
    add_out_dir(p)
    args = p.parse_args(argv)
    if not require_cuda("the depthwise probe"):
        return 2
    torch.backends.cudnn.benchmark = True
    header = {**environment(), "batch": args.batch}
    report = Report(out_dir(args.out_dir), "depthwise_probe", header,
                    lambda data: markdown(data["rows"], data))
    for model in args.models:
        for conv, shape in depthwise(model, args.batch):
            nchw = conv.cuda().eval()
            nhwc = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                             conv.padding, groups=conv.groups, bias=conv.bias is not None)
            nhwc.load_state_dict(nchw.state_dict())
            nhwc = nhwc.cuda().eval().to(memory_format=CL)
            x = torch.randn(shape, device="cuda")
            row = {"model": model, "shape": list(shape),
                   "conv": f"{conv.kernel_size[0]}x{conv.kernel_size[1]}/{conv.stride[0]}"}
            with torch.no_grad():
                row["nchw"] = unrolled_call_us(nchw, x)
                xl = x.contiguous(memory_format=CL)
                row["nhwc"] = unrolled_call_us(nhwc, xl)
                row["nhwc via nchw"] = unrolled_call_us(
                    lambda t, c=nchw: c(t.contiguous()).contiguous(memory_format=CL), xl)
            report.add(row)
    print(markdown(report.rows, header), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
