"""Which elementwise work of the zoo's CNNs runs as kernels of its own, from the traced IR (CPU).

    python -m benchmarks.elementwise_census --out-dir benchmarks/results

For each model (random weights, batch 1, traced on the CPU): the elementwise operators the
frontend leaves as nodes of their own (batch norms it cannot fold, residual adds, gating
multiplies, standalone activations), the convs whose bias and activation cuDNN does not fuse
(anything but ReLU), and, by the rules below, how many elementwise kernels one inference then
launches besides its convolutions, matrix products and pools: today (default levers) and with
fused regions plus the ``fuse_epilogues`` lever. No GPU is used: the kernel counts follow from
how PyTorch runs each op on CUDA (:func:`extra_kernels`), and GPU kernel censuses check them.
Writes ``elementwise-census.json`` and ``elementwise-census.md``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

from benchmarks.report import Row, add_out_dir, argument_parser, out_dir, table, write_json
from ios_core.frontend import trace_model
from ios_core.frontend.models import load_model
from ios_core.frontend.regions import HEAD_KINDS, elementwise_label, fuse_regions, is_elementwise
from ios_core.ir.files import atomic_write_text
from ios_core.ir.graph import OpGraph, OpNode

MODELS = ("mobilenet_v3_large", "efficientnet_b0", "densenet121", "regnet_y_400mf", "resnet50",
          "googlenet")


def extra_kernels(node: OpNode, has_bias: bool) -> int:
    """Elementwise kernels op ``node`` launches today on CUDA besides its main one (default levers).

    cuDNN's conv adds its bias in a kernel of its own, except through its fused conv + bias +
    ReLU; a non-ReLU activation is one more; a linear's bias rides in its matrix product; an
    elementwise node is one kernel plus one for a fused activation.

    >>> conv = OpNode("c", "conv", ("x",), (1, 8, 4, 4), {"activation": "hardswish"})
    >>> extra_kernels(conv, True), extra_kernels(OpNode("a", "add", ("x", "y"), (1,)), False)
    (2, 1)
    """
    act = node.attrs.get("activation", "none") or "none"
    if node.kind == "conv":
        return 0 if act == "relu" else int(has_bias) + int(act != "none")
    if node.kind in ("linear", "pool"):
        return int(act != "none")
    if node.kind in ("add", "mul", "norm"):
        return 1 + int(act != "none")
    return 1 if node.kind == "act" else 0


def region_kernels(node: OpNode, has_bias: bool) -> int:
    """Elementwise kernels of one region with ``fuse_epilogues`` (the runtime's rules).

    >>> r = OpNode("c", "conv", ("x", "y"), (1, 8, 4, 4), {"activation": "none",
    ...                                                    "epilogue": ["add+relu"]})
    >>> region_kernels(r, True)
    0
    """
    act = node.attrs.get("activation", "none") or "none"
    members = node.attrs.get("epilogue") or []
    if node.kind == "conv":
        if act == "none" and members == ["add+relu"]:
            return 0  # cuDNN's conv + bias + add + ReLU
        if act == "relu":
            return int(bool(members))
        return int(has_bias or act != "none" or bool(members))
    if node.kind in ("act", "add", "mul", "norm"):
        return 1
    return int(act != "none") + int(bool(members))


def census(name: str) -> Row:
    loaded = load_model(f"sample_models.zoo:{name}")
    traced = trace_model(loaded.module, loaded.example_input, name=name)
    fused = fuse_regions(traced)
    graph, kernels = traced.graph, traced.kernels
    kinds: Counter[str] = Counter()
    for node in graph:
        if is_elementwise(node, kernels[node.name]):
            kinds[elementwise_label(node)] += 1
        elif node.kind == "conv" and node.activation not in ("none", "relu"):
            kinds[f"conv epilogue: bias+{node.activation}"] += 1
        elif node.kind == "conv" and node.activation == "none" and _bias(traced, node.name):
            kinds["conv epilogue: bias"] += 1
    today = sum(extra_kernels(n, _bias(traced, n.name)) for n in graph)
    after = sum(region_kernels(n, _bias(fused, n.name)) for n in fused.graph)
    return {"model": name, "ops": len(graph.nodes), "region_ops": len(fused.graph.nodes),
            "kinds": dict(kinds.most_common()), "regions": _regions(fused.graph),
            "elementwise_kernels_today": today, "elementwise_kernels_regions": after}


def _bias(traced, name: str) -> bool:
    k = traced.kernels[name]
    head = getattr(k, "head", k)
    return getattr(head, "bias", None) is not None


def _regions(graph: OpGraph) -> dict[str, int]:
    found: Counter[str] = Counter()
    for n in graph:
        if n.attrs.get("epilogue") and n.kind in HEAD_KINDS:
            found[f"{n.kind}+{'+'.join(n.attrs['epilogue'])}"] += 1
    return dict(found.most_common())


def markdown(rows: Sequence[Row], header: str) -> str:
    lines = [
        "# Elementwise work that runs as kernels of its own (traced IR, CPU)", "", header, "",
        "Per model: the elementwise ops left as nodes of their own by today's frontend (it "
        "already folds a batch norm into the conv before it and fuses an activation into its "
        "single-reader producer), and the convs whose bias and activation cuDNN does not fuse "
        "(only conv + bias + ReLU is one cuDNN call). Elementwise kernels per inference: counted "
        "by rule (`extra_kernels`, `region_kernels`), not measured; the add+ReLU after a conv "
        "is counted unfused today although the `fuse_conv_add_relu` lever fuses it where the "
        "schedule puts both in one group.", "",
        *table(["model", "ops", "ops with regions", "unfused elementwise work (count per kind)",
                "regions formed", "elementwise kernels today", "with regions + epi"],
               [[r["model"], r["ops"], r["region_ops"],
                 "; ".join(f"{k} {v}" for k, v in r["kinds"].items()),
                 "; ".join(f"{k} {v}" for k, v in r["regions"].items()) or "none",
                 r["elementwise_kernels_today"], r["elementwise_kernels_regions"]]
                for r in rows]),
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argument_parser("benchmarks.elementwise_census", __doc__)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    add_out_dir(parser)
    args = parser.parse_args(argv)
    rows = []
    for name in args.models:
        rows.append(census(name))
        print(rows[-1], flush=True)
    import platform

    import torch

    header = (f"CPU trace ({platform.machine()}), torch {torch.__version__}, "
              f"{time.strftime('%Y-%m-%d', time.gmtime())}; batch 1, random weights; "
              "`python -m benchmarks.elementwise_census`.")
    target = out_dir(args.out_dir)
    write_json(target / "elementwise-census.json", {"header": header, "rows": rows})
    atomic_write_text(target / "elementwise-census.md", markdown(rows, header))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
