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

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from . import inception_v3, ios_demo, nasnet, randwire, squeezenet


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[[int], nn.Module]  # seed → model in eval mode
    input_shape: tuple[int, int, int]  # (C, H, W), batch excluded
    description: str


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "ios_demo",
            ios_demo.build,
            ios_demo.INPUT_SHAPE,
            "Four 3×3 convs on a 64×28×28 map: a, b read the input (mergeable), "
            "c after a and d after b (concurrent chains), concat.",
        ),
        ModelSpec(
            "inception_v3",
            inception_v3.build,
            inception_v3.INPUT_SHAPE,
            "Inception V3 with BatchNorm, no aux head (23.8M parameters).",
        ),
        ModelSpec(
            "squeezenet",
            squeezenet.build,
            squeezenet.INPUT_SHAPE,
            "SqueezeNet 1.0 fire modules with residual bypasses, as in IOS (1.6M parameters).",
        ),
        ModelSpec(
            "randwire",
            randwire.build,
            randwire.INPUT_SHAPE,
            "RandWire-WS(32, 4, 0.75), C=154, four random stages C..8C, as in IOS "
            "(62.4M parameters).",
        ),
        ModelSpec(
            "nasnet",
            nasnet.build,
            nasnet.INPUT_SHAPE,
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
