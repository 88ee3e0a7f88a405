"""Building blocks and seeded initialisation shared by the sample models.

Every sample model is built the same way (`build_seeded`): the module tree is created on the
``meta`` device (no memory, no default init, and the global RNG is left alone), materialised on the
CPU, and then every parameter and buffer is filled from one ``torch.Generator`` seeded with the
caller's seed. BatchNorm layers get non-trivial ``weight``/``bias``/``running_mean``/
``running_var`` so that folding BN into the preceding convolution is really exercised (with the
PyTorch defaults, 1/0/0/1, a wrong folding would go unnoticed).

The running statistics are *calibrated*: one forward pass on a seeded random input with the BN
layers in training mode records the real per-channel mean and variance of every BN input, as a
trained network would have. Without it, arbitrary statistics compound through RandWire's sums and
NASNet's 18 cells until the logits reach 1e6–1e8, which makes relative-error checks meaningless.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

# Modules that own no parameters or buffers and need no initialisation.
_STATELESS = (
    nn.ReLU,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.Dropout,
    nn.Flatten,
    nn.Identity,
    nn.ZeroPad2d,
    nn.Sequential,
    nn.ModuleList,
)


class ConvBNReLU(nn.Module):
    """conv (no bias) → BatchNorm → ReLU, the ReLU directly after the BN so a frontend can fuse
    all three into one convolution kernel (Inception's ``BasicConv2d``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int = 1,
        padding: int | tuple[int, int] = 0,
        eps: float = 1e-3,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=eps)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


@torch.no_grad()
def seeded_init_(model: nn.Module, seed: int) -> None:
    """Fill every parameter and buffer of ``model`` deterministically from ``seed``.

    Convolutions get He-normal weights (std sqrt(2 / fan_in)) so that activations keep their
    scale through deep ReLU stacks; biases and BN statistics are small random perturbations
    around the identity so outputs stay finite and O(1) while no BN is a no-op.
    Raises TypeError for a module kind it does not know, so nothing is left uninitialised.
    """
    gen = torch.Generator().manual_seed(seed)
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            fan_in = module.weight[0].numel()
            module.weight.normal_(0.0, math.sqrt(2.0 / fan_in), generator=gen)
            if module.bias is not None:
                module.bias.uniform_(-0.1, 0.1, generator=gen)
        elif isinstance(module, nn.Linear):
            module.weight.normal_(0.0, 1.0 / math.sqrt(module.in_features), generator=gen)
            if module.bias is not None:
                module.bias.uniform_(-0.1, 0.1, generator=gen)
        elif isinstance(module, nn.BatchNorm2d):
            # Running statistics get placeholders here; calibrate_bn_ measures the real ones.
            module.weight.uniform_(0.7, 1.3, generator=gen)
            module.bias.uniform_(-0.1, 0.1, generator=gen)
            module.running_mean.normal_(0.0, 0.1, generator=gen)
            module.running_var.uniform_(0.6, 1.6, generator=gen)
            module.num_batches_tracked.zero_()
        elif not isinstance(module, _STATELESS) and (
            any(True for _ in module.parameters(recurse=False))
            or any(True for _ in module.buffers(recurse=False))
        ):
            raise TypeError(f"seeded_init_: no rule for {type(module).__name__} at {name!r}")


@torch.no_grad()
def calibrate_bn_(model: nn.Module, input_shape: tuple[int, ...], seed: int) -> None:
    """Replace every BN's running statistics by those of one forward pass (batch 1) on a random
    input drawn from ``seed``. Only the BN layers run in training mode (dropout stays off)."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    if not bns:
        return
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(1, *input_shape, generator=gen)
    model.eval()
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average: after one batch, exactly that batch's stats
        bn.train()
    model(x)
    for bn, momentum in zip(bns, momenta, strict=True):
        bn.momentum = momentum
        bn.num_batches_tracked.zero_()
    model.eval()


def build_seeded(
    factory: Callable[[], nn.Module], seed: int, calib_shape: tuple[int, ...]
) -> nn.Module:
    """Create ``factory()`` on the meta device, materialise it on the CPU, seed-initialise it,
    calibrate its BN statistics on a ``calib_shape`` (C, H, W) input and return it in eval mode
    (the mode every consumer of the sample models expects)."""
    with torch.device("meta"):
        model = factory()
    model = model.to_empty(device="cpu")
    seeded_init_(model, seed)
    calibrate_bn_(model, calib_shape, seed)
    return model.eval()
