"""Real CNNs from torchvision and timm: one builder per model, ``--model sample_models.zoo:NAME``.

Every builder returns ``(module, (C, H, W))``: the model with random weights, in eval mode, and
its usual input size (batch 1 unless ``load_model``'s ``batch`` says otherwise). ``seed`` makes
the weights reproducible without touching the global RNG. Nothing in ``ios_core`` knows these
names: the zoo goes through the same ``package.module:callable`` door as any user model::

    python -m ios_core optimize --model sample_models.zoo:nasnetalarge --out nasnet.json

Besides the named builders, :func:`torchvision_model` and :func:`timm_model` build any other
model of either library (``timm_model("mixnet_s")``). The torchvision ones take 224×224 unless
``input_size`` says otherwise; the timm ones read the size from the model's ``pretrained_cfg``.

torchvision and timm are optional: they are imported when a builder is called, through
:func:`import_torchvision` (see there why it is more than ``import torchvision``), and a missing
package says what to install.

>>> MODELS[:3]
('googlenet', 'inception_v3', 'squeezenet1_1')
>>> _input_shape({"input_size": (3, 331, 331)})
(3, 331, 331)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import torch
from torch import nn

__all__ = [
    "MODELS", "Built", "ZooError", "densenet121", "dpn68", "efficientnet_b0", "ghostnet_100",
    "googlenet", "import_timm", "import_torchvision", "inception_v3", "inception_v4",
    "mobilenet_v3_large", "nasnetalarge", "regnet_y_400mf", "resnet50", "squeezenet1_1",
    "timm_model", "torchvision_model",
]

Built = tuple[nn.Module, tuple[int, int, int]]  # (model in eval mode, (C, H, W))

MODELS = (
    "googlenet", "inception_v3", "squeezenet1_1", "resnet50", "mobilenet_v3_large",
    "efficientnet_b0", "densenet121", "regnet_y_400mf",  # torchvision
    "inception_v4", "nasnetalarge", "dpn68", "ghostnet_100",  # timm
)


class ZooError(ImportError):
    """torchvision or timm is missing (or broken); the message says what to install."""


# ---- importing torchvision and timm -------------------------------------------------------------
# Kept alive for the whole process: dropping a torch.library.Library removes its definitions.
_DETECTION_OPS_LIBRARY: torch.library.Library | None = None
_MISSING_OP = "operator torchvision::nms does not exist"


def import_torchvision() -> ModuleType:
    """``import torchvision``, also where its C extension cannot load next to this torch.

    PyPI's torchvision wheel is a CUDA build. Next to a CPU-only torch its C extension (which
    holds the detection ops only: nms, roi_align...) does not load, and the import then fails
    in ``torchvision/_meta_registrations.py``, whose ``register_fake("torchvision::nms")`` and
    ``("torchvision::qnms")`` are the only fake registrations not guarded by ``_has_ops()``:
    ``RuntimeError: operator torchvision::nms does not exist``.

    The way round: on exactly that error, forget the half-imported ``torchvision*`` modules,
    define the two operator *schemas* (no kernel: calling them still fails, and classification
    models never do) in a ``torch.library.Library("torchvision", "DEF")``, and import again.
    Where the extension does load (a CUDA machine), the first import succeeds and nothing is
    defined. A missing torchvision raises :class:`ZooError` saying what to install.
    """
    global _DETECTION_OPS_LIBRARY
    try:
        import torchvision
    except ModuleNotFoundError as exc:
        if exc.name != "torchvision":
            raise
        raise ZooError(
            "the zoo's torchvision models need torchvision: pip install torchvision "
            "(the version that matches your torch)"
        ) from exc
    except RuntimeError as exc:
        if _MISSING_OP not in str(exc) or _DETECTION_OPS_LIBRARY is not None:
            raise
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
        library = torch.library.Library("torchvision", "DEF")
        for op in ("nms", "qnms"):
            library.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _DETECTION_OPS_LIBRARY = library
        import torchvision
    return torchvision


def import_timm() -> ModuleType:
    """``import timm`` (after :func:`import_torchvision`, which timm imports); a missing timm
    raises :class:`ZooError` saying what to install."""
    import_torchvision()
    try:
        import timm
    except ModuleNotFoundError as exc:
        if exc.name != "timm":
            raise
        raise ZooError("the zoo's timm models need timm: pip install timm") from exc
    return timm


# ---- generic builders ---------------------------------------------------------------------------
def _seeded(seed: int, build: Callable[[], nn.Module]) -> nn.Module:
    """``build()`` with the RNG seeded by ``seed``, the caller's RNG state left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build().eval()


def torchvision_model(name: str, seed: int = 0, input_size: int = 224, **kwargs: Any) -> Built:
    """torchvision's ``name`` (``torchvision.models.get_model``) with random weights, eval mode.

    ``kwargs`` go to the model's constructor; the input is ``(3, input_size, input_size)``.
    """
    models = import_torchvision().models
    module = _seeded(seed, lambda: models.get_model(name, weights=None, **kwargs))
    return module, (3, input_size, input_size)


def timm_model(name: str, seed: int = 0, **kwargs: Any) -> Built:
    """timm's ``name`` (``timm.create_model``) with random weights, eval mode, at the input size
    of its ``pretrained_cfg`` (``default_cfg`` in older timm)."""
    timm = import_timm()
    module = _seeded(seed, lambda: timm.create_model(name, pretrained=False, **kwargs))
    cfg = getattr(module, "pretrained_cfg", None) or getattr(module, "default_cfg", None) or {}
    return module, _input_shape(cfg)


def _input_shape(cfg: Any) -> tuple[int, int, int]:
    """(C, H, W) from a timm config's ``input_size``; 3×224×224 where it gives none."""
    size = tuple(cfg.get("input_size") or (3, 224, 224))
    if len(size) != 3 or not all(isinstance(d, int) and d > 0 for d in size):
        raise ValueError(f"unexpected input_size {size!r} in the model's pretrained_cfg")
    return size  # type: ignore[return-value]


# ---- the zoo: torchvision -----------------------------------------------------------------------
def googlenet(seed: int = 0) -> Built:
    """GoogLeNet (Inception v1) without its auxiliary heads, 3×224×224."""
    return torchvision_model("googlenet", seed, aux_logits=False, init_weights=False)


def inception_v3(seed: int = 0) -> Built:
    """torchvision's Inception v3 without its auxiliary head, 3×299×299."""
    return torchvision_model("inception_v3", seed, input_size=299, aux_logits=False,
                             init_weights=False)


def squeezenet1_1(seed: int = 0) -> Built:
    """SqueezeNet 1.1, 3×224×224."""
    return torchvision_model("squeezenet1_1", seed)


def resnet50(seed: int = 0) -> Built:
    """ResNet-50, 3×224×224."""
    return torchvision_model("resnet50", seed)


def mobilenet_v3_large(seed: int = 0) -> Built:
    """MobileNet v3 large, 3×224×224."""
    return torchvision_model("mobilenet_v3_large", seed)


def efficientnet_b0(seed: int = 0) -> Built:
    """EfficientNet-B0, 3×224×224."""
    return torchvision_model("efficientnet_b0", seed)


def densenet121(seed: int = 0) -> Built:
    """DenseNet-121, 3×224×224."""
    return torchvision_model("densenet121", seed)


def regnet_y_400mf(seed: int = 0) -> Built:
    """RegNetY-400MF, 3×224×224."""
    return torchvision_model("regnet_y_400mf", seed)


# ---- the zoo: timm ------------------------------------------------------------------------------
def inception_v4(seed: int = 0) -> Built:
    """timm's Inception v4, 3×299×299."""
    return timm_model("inception_v4", seed)


def nasnetalarge(seed: int = 0) -> Built:
    """timm's NASNet-A large, 3×331×331 (TF "same" padding: traced at the input's size)."""
    return timm_model("nasnetalarge", seed)


def dpn68(seed: int = 0) -> Built:
    """timm's DPN-68 (dual path network), 3×224×224."""
    return timm_model("dpn68", seed)


def ghostnet_100(seed: int = 0) -> Built:
    """timm's GhostNet 1.0×, 3×224×224."""
    return timm_model("ghostnet_100", seed)
