"""Which speed levers the engine pulls: :class:`EngineOptions`, its two named sets, and labels.

Two sets have names. :data:`PLAIN_OPTIONS` (``EngineOptions()``: every field starts off) is the
plain path: one kernel per operator, concats copied, one stream per group in schedule order, NCHW.
:data:`DEFAULT_OPTIONS` is what runs when nobody says otherwise: ``options=None`` anywhere in
the runtime and the measured cost model means DEFAULT_OPTIONS, and :func:`resolve_options` is the
one place that says so.

The levers (each measurable alone with ``python -m benchmarks.ablation``; each keeps the output
equal to the model's up to rounding, and falls back to the plain path where it cannot apply):

* ``fuse_conv_relu``: conv + bias + ReLU as ONE cuDNN call, ``aten.cudnn_convolution_relu``
  (plain and merged convs). CUDA only, fp32/fp16/bf16; where cuDNN refuses, the kernel keeps the
  reason and stays on the plain path (:mod:`ios_core.runtime.fused_conv`).
* ``fuse_conv_add_relu``: a conv without activation whose only reader is an ``add`` with a fused
  ReLU later in the same group becomes one step, ``aten.cudnn_convolution_add_relu``
  (relu(conv + bias + z), z = the add's other terms). RandWire has ~20 such pairs.
* ``concat``: ``"copy"`` (torch.cat); ``"view"``: a concat whose inputs already lie back to back
  in one buffer (a merged conv's channel slices, put in the concat's order) is a view of that
  buffer; ``"inplace"``: as "view", and plain sums read only by a concat write straight into
  their slice of its buffer (:mod:`ios_core.runtime.concat_views`).
* ``strided_views`` (with ``concat`` "view"/"inplace"): a concat of consecutive equal-stride
  slices of one tensor (a merged conv's outputs in NHWC, any batch) is a view too.
* ``channels_last``: NHWC activations and conv weights; cuDNN's tensor-core kernels are NHWC-native
  (:mod:`ios_core.runtime.channels_last`).
* ``pack_slices`` (with ``channels_last``): a merged conv's channel slice read by anything but a
  concat is copied packed inside the merge stage, so the merge stage's measured cost includes it.
* ``nhwc_pool`` (with ``channels_last``): 2-d max pools as one 3-d pool over the NHWC tensor's
  (N, 1, H, W, C) view (:mod:`ios_core.runtime.nhwc_pool`).
* ``nhwc_mean`` (with ``channels_last``): global average pools as one matrix-vector product over
  the NHWC tensor's (N, H·W, C) view (:mod:`ios_core.runtime.nhwc_mean`).
* ``compile_mean``: global average pools as one compiled reduction (torch.compile, Inductor;
  CUDA only, eager elsewhere; :func:`ios_core.runtime.epilogue.compiled_mean_kernel`). Before
  ``nhwc_mean`` where both are on. The kernel census found PyTorch's NHWC mean at 4-12 µs and
  compile-ro's pools at about 2 µs; alone, a compiled pool beat PyTorch's mean but not
  ``nhwc_mean`` on the H200 (``benchmarks/results/h200-zoo-gapc-static.md``): Inductor's cheap
  pools are fused into the kernel that produces their input.
* ``conv_layouts`` (with ``channels_last`` and ``fuse_epilogues``): a grouped conv runs NCHW
  where that timed faster on the device, its producer's compiled epilogue writing NCHW for it
  and its own writing NHWC back (:mod:`ios_core.runtime.conv_layouts`).
* ``fuse_means`` (with ``fuse_epilogues``): a global average pool whose input comes from a conv or
  fused region is computed by that op's compiled epilogue, in the kernel that writes the value,
  and the pool itself runs no kernel (:mod:`ios_core.runtime.fused_means`): what Inductor does
  to the squeeze of every squeeze-excitation block in compile-ro.
* ``cudnn_benchmark``: ``torch.backends.cudnn.benchmark`` on through the warm-up and the capture.
* ``fuse_epilogues``: a conv's bias and non-ReLU activation, and a fused region's elementwise ops
  (graphs from :func:`ios_core.frontend.regions.fuse_regions`), as ONE compiled pointwise kernel
  after the conv (torch.compile, cached per region signature; CUDA only, eager elsewhere;
  :mod:`ios_core.runtime.epilogue`).
* ``stream_cap``, ``order``, ``stream_priority``: how a concurrent stage's groups map onto
  streams (:mod:`ios_core.runtime.lanes`): at most ``stream_cap`` side streams, longest group
  first, the first stream at high priority.

>>> resolve_options(None) is DEFAULT_OPTIONS, EngineOptions() == PLAIN_OPTIONS
(True, True)
>>> EngineOptions(fuse_conv_relu=True, stream_cap=4).label()
'fused+cap4'
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = [
    "CONCAT_MODES",
    "DEFAULT_OPTIONS",
    "ORDERS",
    "PLAIN_OPTIONS",
    "EngineOptions",
    "options_from_label",
    "resolve_options",
]

CONCAT_MODES = ("copy", "view", "inplace")
ORDERS = ("schedule", "longest-first")


@dataclass(frozen=True)
class EngineOptions:
    """Which levers the engine pulls (see the module docstring). Every field starts off, so
    ``EngineOptions(x=...)`` is the plain path plus the levers named."""

    fuse_conv_relu: bool = False
    fuse_conv_add_relu: bool = False
    concat: str = "copy"  # "copy" | "view" | "inplace"
    cudnn_benchmark: bool = False
    stream_cap: int | None = None  # at most this many side streams per stage (None: one a group)
    order: str = "schedule"  # "schedule" | "longest-first": launch order of a stage's groups
    stream_priority: bool = False  # the first stream of a stage runs at high priority
    channels_last: bool = False
    pack_slices: bool = False  # with channels_last: merged slices copied packed in their stage
    strided_views: bool = False  # concats of consecutive strided slices of one tensor are views
    nhwc_pool: bool = False  # with channels_last: max pools as one 3-d pool
    nhwc_mean: bool = False  # with channels_last: global average pools as a matrix-vector product
    compile_mean: bool = False  # global average pools as one compiled (Inductor) reduction
    fuse_epilogues: bool = False  # compiled pointwise epilogues (off until measured to pay)
    conv_layouts: bool = False  # with nhwc and epi: grouped convs NCHW where timed faster
    fuse_means: bool = False  # with epi: global average pools inside their producer's epilogue

    def __post_init__(self) -> None:
        if self.concat not in CONCAT_MODES:
            raise ValueError(f"concat must be one of {CONCAT_MODES} (got {self.concat!r})")
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS} (got {self.order!r})")
        cap = self.stream_cap
        if cap is not None and (type(cap) is not int or cap < 1):
            raise ValueError(f"stream_cap must be a positive integer or None (got {cap!r})")

    @property
    def is_plain(self) -> bool:
        """No lever on: these options are :data:`PLAIN_OPTIONS`."""
        return self == PLAIN_OPTIONS

    def label(self) -> str:
        """A short name for reports, read back by :func:`options_from_label`.

        >>> EngineOptions().label(), EngineOptions(concat="inplace", channels_last=True).label()
        ('plain', 'inplace+nhwc')
        """
        parts = [name for name, on in (("fused", self.fuse_conv_relu),
                                       ("add", self.fuse_conv_add_relu)) if on]
        if self.concat != "copy":
            parts.append(self.concat)
        parts += [name for name, on in (("bench", self.cudnn_benchmark),
                                        ("longest", self.order == "longest-first"),
                                        ("prio", self.stream_priority),
                                        ("nhwc", self.channels_last),
                                        ("pack", self.pack_slices),
                                        ("sviews", self.strided_views),
                                        ("pool3d", self.nhwc_pool),
                                        ("gapmv", self.nhwc_mean),
                                        ("gapc", self.compile_mean),
                                        ("epi", self.fuse_epilogues),
                                        ("layouts", self.conv_layouts),
                                        ("gapfuse", self.fuse_means)) if on]
        if self.stream_cap is not None:
            parts.append(f"cap{self.stream_cap}")
        return "+".join(parts) or "plain"


PLAIN_OPTIONS = EngineOptions()
# What options=None means (resolve_options). Chosen from side-by-side ablations on the H100
# (benchmarks/results/ablation*.md): fusing conv+bias+ReLU into one cuDNN call took Inception V3's
# ios-both schedule from 1.132 to 0.958 ms; NHWC activations and weights in fp32 (TF32 convs) took
# it on from 0.955 to 0.698 ms and NASNet from 3.74 to 3.07 ms, as cuDNN's TF32 kernels are
# NHWC-native (NCHW pays layout transforms per conv). In-place concats need contiguous NCHW
# slices, so under NHWC concats copy; merged slices are packed in their own stage, so that measured
# merge stages include the copy their NHWC readers need (the shipped Inception schedule ran 0.672
# -> 0.655 ms). Strided concat views and 3-d max pools (ablation-pool.md) took SqueezeNet's
# shipped ios-both schedule from 0.326 to 0.216 ms and Inception's from 0.627 to 0.590 ms. The
# other levers were within noise and cost nothing. On the CPU the CUDA-only levers fall back to
# the plain path.
DEFAULT_OPTIONS = EngineOptions(fuse_conv_relu=True, fuse_conv_add_relu=True, concat="inplace",
                                cudnn_benchmark=True, order="longest-first", stream_priority=True,
                                channels_last=True, pack_slices=True, strided_views=True,
                                nhwc_pool=True)


def resolve_options(options: EngineOptions | None) -> EngineOptions:
    """The options to run with: ``options`` itself, or :data:`DEFAULT_OPTIONS` for ``None``.

    The one meaning of ``options=None`` in the runtime and the measured cost model; ask for the
    plain path with :data:`PLAIN_OPTIONS` (or ``EngineOptions()``).

    >>> resolve_options(None).label()
    'fused+add+inplace+bench+longest+prio+nhwc+pack+sviews+pool3d'
    >>> resolve_options(PLAIN_OPTIONS).label()
    'plain'
    """
    return DEFAULT_OPTIONS if options is None else options


# label part -> the boolean field it switches
_FLAGS = {"fused": "fuse_conv_relu", "add": "fuse_conv_add_relu", "bench": "cudnn_benchmark",
          "prio": "stream_priority", "nhwc": "channels_last", "pack": "pack_slices",
          "sviews": "strided_views", "pool3d": "nhwc_pool", "gapmv": "nhwc_mean",
          "gapc": "compile_mean", "epi": "fuse_epilogues", "layouts": "conv_layouts",
          "gapfuse": "fuse_means"}


def options_from_label(text: str) -> EngineOptions:
    """The options a label names: ``"default"``, ``"plain"``, a :meth:`EngineOptions.label`, or
    one of those followed by ``+part``/``-part`` changes. A label that starts with neither
    ``default`` nor ``plain`` starts from the plain path.

    >>> options_from_label("default-pack") == replace(DEFAULT_OPTIONS, pack_slices=False)
    True
    >>> options_from_label("fused+view+cap4").label(), options_from_label("").label()
    ('fused+view+cap4', 'plain')
    """
    tokens = [t for t in _split_label(text) if t[1]]
    if tokens and tokens[0][1] in ("default", "plain"):
        opts = DEFAULT_OPTIONS if tokens.pop(0)[1] == "default" else PLAIN_OPTIONS
    else:
        opts = PLAIN_OPTIONS
    for sign, part in tokens:
        on = sign != "-"
        if part in _FLAGS:
            opts = replace(opts, **{_FLAGS[part]: on})
        elif part in ("view", "inplace"):
            opts = replace(opts, concat=part if on else "copy")
        elif part == "longest":
            opts = replace(opts, order="longest-first" if on else "schedule")
        elif part.startswith("cap") and part[3:].isdigit():
            opts = replace(opts, stream_cap=int(part[3:]) if on else None)
        else:
            known = ", ".join([*_FLAGS, "view", "inplace", "longest", "capN"])
            raise ValueError(f"unknown engine lever {part!r} in {text!r}; known: {known}")
    return opts


def _split_label(text: str) -> list[tuple[str, str]]:
    """``"a+b-c"`` as signed words.

    >>> _split_label("default+sviews-pack")
    [('+', 'default'), ('+', 'sviews'), ('-', 'pack')]
    """
    out, sign, word = [], "+", ""
    for ch in text.strip():
        if ch in "+-":
            out.append((sign, word))
            sign, word = ch, ""
        else:
            word += ch
    out.append((sign, word))
    return out
