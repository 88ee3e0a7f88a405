"""Sample CNNs for IOS Explorer: the models of the IOS paper plus a four-conv teaching network.

Every model is our own ``nn.Module``, built deterministically from a seed (weights *and* BatchNorm
statistics, so BN folding is exercised), returned in eval mode, and traceable with
``torch.fx.symbolic_trace``. The operators each model uses are listed in its module docstring.

>>> model, shape = build_model("ios_demo", seed=0)
>>> shape
(64, 28, 28)
>>> list(REGISTRY)
['ios_demo', 'inception_v3', 'squeezenet', 'randwire', 'nasnet']
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

# Importing this package does not import torch: a model's module (and torch) load when it is
# first built, so listing the models (the app's sidebar, `ios-explorer models`) stays fast. Each
# module's INPUT_SHAPE must equal its spec's (a test checks).


@dataclass(frozen=True)
class ModelSpec:
    name: str
    input_shape: tuple[int, int, int]  # (C, H, W), batch excluded
    description: str

    def build(self, seed: int = 0) -> nn.Module:
        """The model in eval mode, built from ``seed`` (its module is imported here)."""
        return importlib.import_module(f"{__name__}.{self.name}").build(seed)


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "ios_demo",
            (64, 28, 28),
            "Four 3×3 convs on a 64×28×28 map: a, b read the input (mergeable), "
            "c after a and d after b (concurrent chains), concat.",
        ),
        ModelSpec(
            "inception_v3",
            (3, 299, 299),
            "Inception V3 with BatchNorm, no aux head (23.8M parameters).",
        ),
        ModelSpec(
            "squeezenet",
            (3, 224, 224),
            "SqueezeNet 1.0 fire modules with residual bypasses, as in IOS (1.6M parameters).",
        ),
        ModelSpec(
            "randwire",
            (3, 224, 224),
            "RandWire-WS(32, 4, 0.75), C=154, four random stages C..8C, as in IOS "
            "(62.4M parameters).",
        ),
        ModelSpec(
            "nasnet",
            (3, 331, 331),
            "NASNet-A large: 96-filter stem, 3×6 normal cells, 4032 channels at the end "
            "(88.8M parameters).",
        ),
    )
}


def build_model(name: str, seed: int = 0) -> tuple[nn.Module, tuple[int, int, int]]:
    """Build the sample model ``name`` (eval mode) and return it with its (C, H, W) input shape.

    Raises KeyError, naming the known models, for an unknown name.
    """
    try:
        spec = REGISTRY[name]
    except KeyError:
        known = ", ".join(REGISTRY)
        raise KeyError(f"unknown sample model {name!r}; known models: {known}") from None
    return spec.build(seed), spec.input_shape


__all__ = ["REGISTRY", "ModelSpec", "build_model"]
