"""NASNet-A large (Zoph et al., 2018) as used by IOS: input 3×331×331, 1000 classes.

Follows the structure of the reference (TF-slim) NASNet-A, ImageNet large configuration:
stem conv 3×3/2 with 96 filters (no padding, 331 → 165) + BN; two stem reduction cells with
F = 42 and 84 filters (→ 83², 42²); then three stacks of N = 6 normal cells with F = 168, 336,
672, separated by reduction cells that double F (42² → 21² → 11²); ReLU, global average pool,
dropout, fc. A normal cell outputs 6F channels, a reduction cell 4F; the last cell gives
6 × 672 = 4032. 88.75M parameters.

A cell reads the two previous cell outputs, ``cur`` (h_i) and ``prev`` (h_{i-1}):

- ``cur`` → ReLU → 1×1 conv → BN to F channels;
- ``prev`` is made to match: if its spatial size differs, ReLU → factorised reduction (two
  half-width 1×1 convs on the even and on the one-pixel-shifted odd grid, concat, BN); else if its
  channels differ, ReLU → 1×1 conv → BN. (Stem cell 0 has no prev and uses the raw stem output.)
  As in the reference "large" model, the normal cell after a reduction cell takes as ``prev`` the
  cell *before* the reduction's input (``cell_6`` reads ``reduction_0`` and ``cell_4``).

Normal cell: c0 = sep5(cur) + sep3(prev); c1 = sep5(prev) + sep3(prev); c2 = avg3(cur) + prev;
c3 = avg3(prev) + avg3(prev); c4 = sep3(cur) + cur; out = cat(prev, c0, c1, c2, c3, c4).
Reduction cell (stride 2 on ops that read cur/prev): c0 = sep5(cur) + sep7(prev);
c1 = max3(cur) + sep7(prev); c2 = avg3(cur) + sep5(prev); c3 = avg3(c0, stride 1) + c1;
c4 = sep3(c0, stride 1) + max3(cur); out = cat(c1, c2, c3, c4).

``sepK`` is (ReLU → depthwise K×K → pointwise 1×1 → BN) twice, the stride in the first depthwise
conv; the first pointwise conv maps the input channels to F. Avg pools exclude padding (TF
"SAME" semantics).

Simplifications (documented, harmless for scheduling): no auxiliary head and no drop-path
(inference only); PyTorch symmetric padding instead of TF "SAME" asymmetric padding for stride-2
ops on even sizes (same output shapes); the shift in the factorised reduction is a ``ZeroPad2d``
with negative padding (crop one row/column at the top/left, pad one at the bottom/right), the one
op outside conv/BN/ReLU/pool/add/cat (4 of them, in stem cell 1 and the first cell of each stack).

Ops used: Conv2d (bias-free: 3×3/2 stem, 1×1 stride 1, depthwise 3×3/5×5/7×7 stride 1 or 2
with groups = channels), BatchNorm2d, ReLU (standalone, before convs; each consumer applies its
own ReLU so the same tensor can be ReLU'd several times), MaxPool2d(3, 2, 1),
AvgPool2d(3, 1 or 2, 1, count_include_pad=False), AvgPool2d(1, 2) (subsampling), ZeroPad2d,
add, torch.cat, AdaptiveAvgPool2d(1), flatten, Dropout, Linear.
"""

from __future__ import annotations

import torch
from torch import nn

from ._common import build_seeded

INPUT_SHAPE = (3, 331, 331)
STEM_FILTERS = 96
PENULTIMATE_FILTERS = 4032  # = 6 (concat width of a normal cell) × 4 × F0
CELLS_PER_STACK = 6
BN_EPS = 1e-3


class SepConv(nn.Module):
    """(ReLU → depthwise K×K → pointwise 1×1 → BN) × 2; stride in the first depthwise conv."""

    def __init__(self, in_channels: int, channels: int, kernel: int, stride: int) -> None:
        super().__init__()
        pad = kernel // 2
        self.relu1 = nn.ReLU()
        self.depthwise1 = nn.Conv2d(
            in_channels, in_channels, kernel, stride, pad, groups=in_channels, bias=False
        )
        self.pointwise1 = nn.Conv2d(in_channels, channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels, eps=BN_EPS)
        self.relu2 = nn.ReLU()
        self.depthwise2 = nn.Conv2d(channels, channels, kernel, 1, pad, groups=channels, bias=False)
        self.pointwise2 = nn.Conv2d(channels, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn1(self.pointwise1(self.depthwise1(self.relu1(x))))
        return self.bn2(self.pointwise2(self.depthwise2(self.relu2(x))))


def _pool(kind: str, stride: int) -> nn.Module:
    """3×3 max or average pool (every pool in NASNet-A reads an F-channel tensor)."""
    if kind == "max":
        return nn.MaxPool2d(3, stride, 1)
    return nn.AvgPool2d(3, stride, 1, count_include_pad=False)


class ReLUConvBN(nn.Module):
    """ReLU → 1×1 conv → BN: brings a cell input to F channels."""

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.conv = nn.Conv2d(in_channels, channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(channels, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(self.relu(x)))


class FactorizedReduce(nn.Module):
    """ReLU → halve the spatial size with two 1×1 convs (F/2 channels each) on the even grid and
    on the grid shifted by one pixel, concat → BN."""

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.path1_pool = nn.AvgPool2d(1, stride=2)  # keeps every other pixel
        self.path1_conv = nn.Conv2d(in_channels, channels // 2, 1, bias=False)
        self.path2_shift = nn.ZeroPad2d((-1, 1, -1, 1))  # x'[i, j] = x[i + 1, j + 1]
        self.path2_pool = nn.AvgPool2d(1, stride=2)
        self.path2_conv = nn.Conv2d(in_channels, channels - channels // 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(channels, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        p1 = self.path1_conv(self.path1_pool(x))
        p2 = self.path2_conv(self.path2_pool(self.path2_shift(x)))
        return self.bn(torch.cat([p1, p2], 1))


def _adjust_prev(prev_channels: int, channels: int, reduce: bool) -> nn.Module | None:
    """The module that makes ``prev`` an F-channel tensor of the cell's input size, if any."""
    if reduce:
        return FactorizedReduce(prev_channels, channels)
    if prev_channels != channels:
        return ReLUConvBN(prev_channels, channels)
    return None


class NormalCell(nn.Module):
    """NASNet-A normal cell; output 6F channels at the input resolution."""

    def __init__(self, cur_channels: int, prev_channels: int, channels: int, reduce_prev: bool):
        super().__init__()
        f = channels
        self.cur_1x1 = ReLUConvBN(cur_channels, f)
        self.prev_adjust = _adjust_prev(prev_channels, f, reduce_prev)
        self.comb0_left = SepConv(f, f, 5, 1)  # on cur
        self.comb0_right = SepConv(f, f, 3, 1)  # on prev
        self.comb1_left = SepConv(f, f, 5, 1)  # on prev
        self.comb1_right = SepConv(f, f, 3, 1)  # on prev
        self.comb2_left = _pool("avg", 1)  # on cur
        self.comb3_left = _pool("avg", 1)  # on prev
        self.comb3_right = _pool("avg", 1)  # on prev
        self.comb4_left = SepConv(f, f, 3, 1)  # on cur

    def forward(self, cur: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        h = self.cur_1x1(cur)
        p = prev if self.prev_adjust is None else self.prev_adjust(prev)
        c0 = self.comb0_left(h) + self.comb0_right(p)
        c1 = self.comb1_left(p) + self.comb1_right(p)
        c2 = self.comb2_left(h) + p
        c3 = self.comb3_left(p) + self.comb3_right(p)
        c4 = self.comb4_left(h) + h
        return torch.cat([p, c0, c1, c2, c3, c4], 1)


class ReductionCell(nn.Module):
    """NASNet-A reduction cell; output 4F channels at half the input resolution.

    ``prev_channels=None`` is stem cell 0: prev is the raw stem output (the very tensor that
    ``cur`` is), fed to its ops without an adjustment.
    """

    def __init__(
        self, cur_channels: int, prev_channels: int | None, channels: int, reduce_prev: bool
    ):
        super().__init__()
        f = channels
        self.cur_1x1 = ReLUConvBN(cur_channels, f)
        if prev_channels is None:
            self.prev_adjust: nn.Module | None = None
            p_ch = cur_channels
        else:
            self.prev_adjust = _adjust_prev(prev_channels, f, reduce_prev)
            p_ch = f if self.prev_adjust is not None else prev_channels
        self.comb0_left = SepConv(f, f, 5, 2)  # on cur
        self.comb0_right = SepConv(p_ch, f, 7, 2)  # on prev
        self.comb1_left = _pool("max", 2)  # on cur
        self.comb1_right = SepConv(p_ch, f, 7, 2)  # on prev
        self.comb2_left = _pool("avg", 2)  # on cur
        self.comb2_right = SepConv(p_ch, f, 5, 2)  # on prev
        self.comb3_right = _pool("avg", 1)  # on c0
        self.comb4_left = SepConv(f, f, 3, 1)  # on c0
        self.comb4_right = _pool("max", 2)  # on cur

    def forward(self, cur: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        h = self.cur_1x1(cur)
        p = prev if self.prev_adjust is None else self.prev_adjust(prev)
        c0 = self.comb0_left(h) + self.comb0_right(p)
        c1 = self.comb1_left(h) + self.comb1_right(p)
        c2 = self.comb2_left(h) + self.comb2_right(p)
        c3 = c1 + self.comb3_right(c0)
        c4 = self.comb4_left(c0) + self.comb4_right(h)
        return torch.cat([c1, c2, c3, c4], 1)


class NASNetALarge(nn.Module):
    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        f0 = PENULTIMATE_FILTERS // 24  # 168: the last normal cell outputs 6 × 4 × f0
        self.conv0 = nn.Conv2d(3, STEM_FILTERS, 3, stride=2, bias=False)  # 331 → 165
        self.conv0_bn = nn.BatchNorm2d(STEM_FILTERS, eps=BN_EPS)
        # Stem cells: F = f0/4 then f0/2; cell_stem_1's prev is the stem conv at twice its size.
        self.cell_stem_0 = ReductionCell(STEM_FILTERS, None, f0 // 4, reduce_prev=False)
        self.cell_stem_1 = ReductionCell(4 * (f0 // 4), STEM_FILTERS, f0 // 2, reduce_prev=True)
        # Channels and resolution level (+1 per reduction) of every output so far, in the order
        # forward builds its ``outs`` list: stem conv, stem cell 0, stem cell 1, then the cells.
        outs_ch = [STEM_FILTERS, 4 * (f0 // 4), 4 * (f0 // 2)]
        outs_res = [0, 1, 2]
        cells: list[nn.Module] = []
        wiring: list[tuple[int, int]] = []  # (cur, prev) indices into ``outs`` per cell
        f = f0
        for stack in range(3):
            if stack > 0:
                f *= 2
                cur, prev = len(outs_ch) - 1, len(outs_ch) - 2
                cells.append(ReductionCell(outs_ch[cur], outs_ch[prev], f, reduce_prev=False))
                wiring.append((cur, prev))
                outs_ch.append(4 * f)
                outs_res.append(outs_res[cur] + 1)
                # The normal cell after a reduction skips the reduction's input for prev.
                cur, prev = len(outs_ch) - 1, len(outs_ch) - 3
            else:
                cur, prev = len(outs_ch) - 1, len(outs_ch) - 2
            for _ in range(CELLS_PER_STACK):
                reduce_prev = outs_res[prev] != outs_res[cur]
                cells.append(NormalCell(outs_ch[cur], outs_ch[prev], f, reduce_prev))
                wiring.append((cur, prev))
                outs_ch.append(6 * f)
                outs_res.append(outs_res[cur])
                cur, prev = len(outs_ch) - 1, cur
        self.cells = nn.ModuleList(cells)
        self.wiring: tuple[tuple[int, int], ...] = tuple(wiring)
        self.relu = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(outs_ch[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = self.conv0_bn(self.conv0(x))
        s0 = self.cell_stem_0(x0, x0)
        s1 = self.cell_stem_1(s0, x0)
        outs = [x0, s0, s1]
        for cell, (cur, prev) in zip(self.cells, self.wiring, strict=True):
            outs.append(cell(outs[cur], outs[prev]))
        x = torch.flatten(self.avgpool(self.relu(outs[-1])), 1)
        return self.fc(self.dropout(x))


def build(seed: int = 0) -> nn.Module:
    """NASNet-A large in eval mode, weights and BN statistics drawn from ``seed``."""
    return build_seeded(NASNetALarge, seed, INPUT_SHAPE)
