"""Load a model to trace: a sample model by name, or your own ``package.module:callable``.

A reference is either

* the name of a sample model (``inception_v3``, ``squeezenet``, ... see :func:`list_models`),
  built by ``sample_models.build_model(name, seed)``; its example input is seeded random normal
  data of shape ``(batch, C, H, W)``; or
* ``package.module:callable`` (``callable`` may be dotted, ``pkg.mod:Factory.build``), imported
  from the Python environment with ``importlib``; files are never executed or unpickled. The
  callable is called with the keyword arguments ``batch`` and ``seed`` that its signature accepts
  (none, one or both) and returns ``(module, example_input)``, where ``example_input`` is

  - a tensor: its dim 0 is the batch; when ``batch`` differs, its samples are repeated (or cut)
    to ``batch`` rows;
  - a shape: 3 numbers are ``(C, H, W)`` and ``batch`` is put in front; 4 numbers are
    ``(N, C, H, W)`` and ``batch`` replaces ``N``; the input is seeded random normal float32;
  - for a model with several inputs, a tuple (or list) of those, one per input in the order of
    ``forward``'s arguments: ``(x1, (3, 32, 32))``. Random inputs are drawn one after the other
    from one seeded generator (the first is the one a single shape would give).

The module is returned in eval mode; ``example_input`` is a tensor, or a tuple of tensors for
several inputs (as :func:`~ios_core.frontend.tracing.trace_model` takes it).
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["LoadedModel", "ModelLoadError", "UnknownModelError", "list_models", "load_model"]


class ModelLoadError(ValueError):
    """A model reference could not be loaded; the message says why and what to write instead."""


class UnknownModelError(ModelLoadError):
    """A sample model name that does not exist; the message lists the known names."""


@dataclass
class LoadedModel:
    """A model to trace: the module and an example input for it."""

    name: str  # the reference it was loaded from (a sample name or package.module:callable)
    module: nn.Module  # in eval mode
    example_input: torch.Tensor | tuple[torch.Tensor, ...]  # batch first; a tuple: several inputs

    @property
    def inputs(self) -> tuple[torch.Tensor, ...]:
        """The example input(s) as a tuple, one tensor per input of ``forward``."""
        x = self.example_input
        return x if isinstance(x, tuple) else (x,)


def list_models() -> list[tuple[str, tuple[int, ...], str]]:
    """(name, input shape (C, H, W), description) of every sample model."""
    return [(s.name, tuple(s.input_shape), s.description) for s in _registry().values()]


def load_model(ref: str, batch: int = 1, seed: int = 0) -> LoadedModel:
    """Build the model ``ref`` names, with an example input of batch size ``batch``."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ModelLoadError(f"batch size must be a whole number of at least 1, not {batch!r}")
    ref = ref.strip()
    if ":" in ref:
        module, example = _load_reference(ref, batch, seed)
    else:
        module, example = _load_sample(ref, batch, seed)
    return LoadedModel(ref, module.eval(), example)


# ---- sample models ------------------------------------------------------------------------------
def _registry() -> dict[str, Any]:
    try:
        import sample_models  # lazily: ios_core must import without it
    except ImportError:
        return {}
    return dict(sample_models.REGISTRY)


def _load_sample(name: str, batch: int, seed: int) -> tuple[nn.Module, torch.Tensor]:
    registry = _registry()
    if name not in registry:
        known = ", ".join(registry) or "none (the sample_models package is not importable)"
        raise UnknownModelError(
            f"unknown model {name!r}. Sample models: {known}; or give your own as "
            "package.module:callable, a callable that returns (module, example_input)"
        )
    import sample_models

    module, shape = sample_models.build_model(name, seed=seed)
    return module, _random_input((batch, *shape), seed)


def _random_input(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)  # the global RNG is left alone
    return torch.randn(shape, generator=generator)


# ---- package.module:callable --------------------------------------------------------------------
_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def _load_reference(ref: str, batch: int, seed: int) -> tuple[nn.Module, Any]:
    factory = _resolve(ref)
    kwargs = {k: v for k, v in (("batch", batch), ("seed", seed)) if _accepts(factory, k)}
    try:
        result = factory(**kwargs)
    except Exception as exc:
        raise ModelLoadError(f"calling {ref} failed: {type(exc).__name__}: {exc}") from exc
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        raise ModelLoadError(f"{ref} must return (module, example_input), not {_kind(result)}")
    module, example = result
    if not isinstance(module, nn.Module):
        raise ModelLoadError(
            f"{ref} returned {_kind(module)} as its model; the first item must be a torch.nn.Module"
        )
    return module, _example_input(ref, example, batch, seed)


def _resolve(ref: str) -> Callable[..., Any]:
    """The callable that ``package.module:callable`` names, imported from the environment."""
    module_name, _, attr_path = ref.partition(":")
    if not (_DOTTED.fullmatch(module_name) and _DOTTED.fullmatch(attr_path)):
        raise ModelLoadError(
            f"bad model reference {ref!r}: write package.module:callable with a module importable "
            "from the Python environment (e.g. mypkg.nets:build), not a file path"
        )
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or any error the module raises while importing
        raise ModelLoadError(
            f"cannot import module {module_name!r} of model reference {ref!r}: "
            f"{type(exc).__name__}: {exc}. Is it installed or on PYTHONPATH?"
        ) from exc
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise ModelLoadError(f"module {module_name!r} has no attribute {attr_path!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ModelLoadError(f"{ref} is {_kind(obj)}, not a callable returning "
                             "(module, example_input)")
    return obj


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return name in params and params[name].kind in kinds


def _example_input(
    ref: str, example: Any, batch: int, seed: int
) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """The callable's example (tensor, shape, or a tuple of them) at batch size ``batch``."""
    generator = torch.Generator().manual_seed(seed)  # one for all inputs (they differ); not global
    if _is_several(example):
        if not example:
            raise ModelLoadError(f"{ref} returned an empty tuple of example inputs")
        return tuple(_one_input(ref, x, batch, generator, i) for i, x in enumerate(example))
    return _one_input(ref, example, batch, generator, None)


def _is_several(example: Any) -> bool:
    """Whether ``example`` is a tuple or list of inputs rather than one shape.

    >>> _is_several((3, 8, 8)), _is_several(((3, 8, 8), (3, 4, 4))), _is_several([])
    (False, True, True)
    """
    return isinstance(example, (tuple, list)) and not isinstance(example, torch.Size) and all(
        isinstance(x, (torch.Tensor, tuple, list)) for x in example)


def _one_input(
    ref: str, example: Any, batch: int, generator: torch.Generator, index: int | None
) -> torch.Tensor:
    what = "example input" if index is None else f"example input {index}"
    if isinstance(example, torch.Tensor):
        if example.dim() == 0:
            raise ModelLoadError(f"{ref} returned a 0-d {what}; it needs a batch dim")
        rows = torch.arange(batch) % example.shape[0]  # repeat (or cut) samples to `batch`
        return example if example.shape[0] == batch else example[rows].clone()
    shape = tuple(example) if isinstance(example, (tuple, list, torch.Size)) else None
    valid = shape is not None and len(shape) in (3, 4)
    if not valid or not all(type(d) is int and d > 0 for d in shape):
        several = "" if index is not None else ", or a tuple of those for several inputs"
        raise ModelLoadError(
            f"{ref} returned {example!r} as {what}; give a tensor, a (C, H, W) shape or an "
            f"(N, C, H, W) shape of positive ints{several}"
        )
    return torch.randn((batch, *shape[-3:]), generator=generator)


def _kind(obj: Any) -> str:
    return f"a {type(obj).__name__}"
