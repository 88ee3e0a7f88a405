"""A small net with every pattern the engine's levers act on, traced by the real frontend.

    x ─ squeeze 1x1+ReLU ─┬ e1 1x1+ReLU ─┐
                          └ e3 3x3+ReLU ─┴ cat (fire: a merge of e1, e3 makes it a view)
    cat ─┬ conv_a 3x3 (+BN) ─┐
         ├ conv_b 1x1 ───────┴ add        (sums: write into cat_1's slots)
         ├ avg_pool2d ─ add_1 (+ cat) ─┐
         └──────────── cat_1 = [cat, add, add_1]
    cat_1 ─┬ conv_r 3x3 ─┐
           └ conv_q 1x1 ─┴ add_2 + ReLU    (conv + add + ReLU fuses)
    add_2 ─ global avg pool ─ fc
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ios_core.frontend.tracing import TracedModel, trace_model
from ios_core.ir.schedule import Schedule
from tests._hand_models import make_schedule


class LeverNet(nn.Module):
    def __init__(self, c: int = 6, seed: int = 0) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(3, 4, 1)
        self.e1 = nn.Conv2d(4, c, 1)
        self.e3 = nn.Conv2d(4, c, 3, padding=1)
        self.conv_a = nn.Conv2d(2 * c, c, 3, padding=1, bias=False)
        self.bn_a = nn.BatchNorm2d(c)
        self.conv_b = nn.Conv2d(2 * c, c, 1)
        self.conv_r = nn.Conv2d(5 * c, 8, 3, padding=1)
        self.conv_q = nn.Conv2d(5 * c, 8, 1)
        self.fc = nn.Linear(8, 5)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.4)
            self.bn_a.running_var.fill_(1.5)
            self.bn_a.running_mean.fill_(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.relu(self.squeeze(x))
        f = torch.cat([F.relu(self.e1(s)), F.relu(self.e3(s))], 1)
        c0 = self.bn_a(self.conv_a(f)) + self.conv_b(f)
        c1 = F.avg_pool2d(f, 3, 1, 1) + f
        n = torch.cat([f, c0, c1], 1)
        r = F.relu(self.conv_r(n) + self.conv_q(n))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(r, 1), 1))


def lever_traced(batch: int = 1, hw: int = 8) -> TracedModel:
    return trace_model(LeverNet().eval(), torch.randn(batch, 3, hw, hw), name="levernet")


# stage lists over LeverNet's node names; each exercises some levers
LEVER_SCHEDULES: dict[str, list[tuple[str, list[list[str]]]]] = {
    # e3 before e1 in the merge: the engine must reorder the channels for the view
    "merge_reversed": [
        ("concurrent", [["squeeze"]]),
        ("merge", [["e3", "e1"]]),
        ("concurrent", [["cat"]]),
        ("concurrent", [["conv_a", "conv_b", "add"], ["avg_pool2d", "add_1"]]),
        ("concurrent", [["cat_1"]]),
        ("concurrent", [["conv_q", "conv_r", "add_2"]]),  # conv_r + add_2 fuse
        ("concurrent", [["adaptive_avg_pool2d", "fc"]]),
    ],
    # the merge stage ends in the concat of its convs: the concat is part of the merge stage
    "merge_with_cat": [
        ("concurrent", [["squeeze"]]),
        ("merge", [["e3", "e1", "cat"]]),
        ("concurrent", [["conv_a", "conv_b", "add"], ["avg_pool2d", "add_1"]]),
        ("concurrent", [["cat_1"]]),
        ("concurrent", [["conv_q", "conv_r", "add_2"]]),
        ("concurrent", [["adaptive_avg_pool2d", "fc"]]),
    ],
    # slot producers in different stages and streams; three groups for stream caps
    "wide": [
        ("concurrent", [["squeeze", "e1"]]),
        ("concurrent", [["e3"]]),
        ("concurrent", [["cat"]]),
        ("concurrent", [["conv_a"], ["conv_b"], ["avg_pool2d", "add_1"]]),
        ("concurrent", [["add"]]),
        ("concurrent", [["cat_1"]]),
        ("concurrent", [["conv_r"], ["conv_q"]]),
        ("concurrent", [["add_2"], ]),
        ("concurrent", [["adaptive_avg_pool2d"]]),
        ("concurrent", [["fc"]]),
    ],
    "sequential_like": [
        ("concurrent", [["squeeze", "e1", "e3", "cat", "conv_a", "conv_b", "add", "avg_pool2d",
                         "add_1", "cat_1", "conv_r", "conv_q", "add_2", "adaptive_avg_pool2d",
                         "fc"]]),
    ],
}


def lever_schedule(traced: TracedModel, name: str) -> Schedule:
    return make_schedule(traced.graph, LEVER_SCHEDULES[name])
