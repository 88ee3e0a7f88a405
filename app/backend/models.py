"""The app's models: sample names, model keys (a reference with its leaf modules), the traced
model and its graph (traced by the worker process beside the server), blocks and hierarchy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from app.trace_client import TraceWorker
from ios_core.ir.graph import OpGraph
from ios_core.ir.hierarchy import Hierarchy

DEFAULT_MODEL = "inception_v3"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    input_shape: tuple[int, ...]
    description: str


@st.cache_data(show_spinner=False)
def sample_models() -> list[ModelInfo]:
    """The sample models ios_core ships, as (name, input shape, description). Read from the
    ``sample_models`` package itself, which lists them without importing torch (ios_core's
    ``list_models`` imports its frontend, and torch with it: ~2 s of a cold first page)."""
    try:
        from sample_models import REGISTRY
    except ImportError:  # as ios_core's listing: no sample models where the package is missing
        return []
    return [ModelInfo(s.name, tuple(s.input_shape), s.description) for s in REGISTRY.values()]


_LEAVES = " [leaf modules: "
_REGIONS = " [fused epilogues]"


def model_key(ref: str, leaves: Sequence[str] = (), regions: bool = False) -> str:
    """The app's name of a model traced with ``leaves`` kept whole, and with its elementwise
    chains fused into regions where ``regions`` (the CLI's ``--fuse-epilogues``): the key of
    every cache, so two tracings of one model never share a graph.

    >>> model_key("mypkg.nets:build", ["gate", "Mixer"])
    'mypkg.nets:build [leaf modules: gate, Mixer]'
    >>> key = model_key("squeezenet", regions=True)
    >>> key, split_model_key(key), fused_epilogues(key)
    ('squeezenet [fused epilogues]', ('squeezenet', ()), True)
    """
    key = f"{ref}{_LEAVES}{', '.join(leaves)}]" if leaves else ref
    return key + _REGIONS if regions else key


def split_model_key(key: str) -> tuple[str, tuple[str, ...]]:
    """(model reference, leaf modules) of a :func:`model_key`."""
    ref, found, rest = key.removesuffix(_REGIONS).partition(_LEAVES)
    if not found or not rest.endswith("]"):
        return ref, ()
    return ref, tuple(n.strip() for n in rest[:-1].split(",") if n.strip())


def fused_epilogues(key: str) -> bool:
    """Whether the model of a :func:`model_key` has its elementwise chains fused into regions."""
    return key.endswith(_REGIONS)


def parse_leaves(text: str) -> tuple[str, ...]:
    r"""Leaf modules as a user types them: names or class names, comma- or line-separated.

    >>> parse_leaves(" features.3, Fire\n\nrouter ,")
    ('features.3', 'Fire', 'router')
    """
    names = (n.strip() for line in text.splitlines() for n in line.split(","))
    return tuple(dict.fromkeys(n for n in names if n))


@st.cache_resource(show_spinner="Building and tracing the model…", max_entries=8)
def traced_model(model_ref: str, batch: int) -> Any:
    """ios_core.frontend.TracedModel of a :func:`model_key` (a sample name or
    package.module:callable, maybe with leaf modules, maybe with fused regions) at a batch."""
    from ios_core.frontend import trace_model
    from ios_core.frontend.models import load_model
    from ios_core.frontend.regions import fuse_regions

    ref, leaves = split_model_key(model_ref)
    loaded = load_model(ref, batch=batch)
    traced = trace_model(loaded.module, loaded.example_input, name=loaded.name,
                         leaf_modules=leaves)
    return fuse_regions(traced) if fused_epilogues(model_ref) else traced


@st.cache_resource(show_spinner=False)
def trace_worker() -> TraceWorker:
    """The server's one trace worker process (app/trace_client.py)."""
    return TraceWorker()


@st.cache_resource(show_spinner="Building and tracing the model…", max_entries=8)
def graph(model_ref: str, batch: int) -> OpGraph:
    """The model's OpGraph, traced by the worker process beside the server; traced here when
    the worker cannot (this raises the frontend's own error, with its advice)."""
    from ios_core.ir.graph import GraphError
    from ios_core.ir.graph_file import graph_from_json

    ref, leaves = split_model_key(model_ref)
    data = trace_worker().graph_data(ref, batch, leaves, fused_epilogues(model_ref))
    if data is not None:
        try:
            return graph_from_json(data)
        except GraphError:  # never expected: the worker runs this same code
            pass
    return traced_model(model_ref, batch).graph


@st.cache_data(show_spinner=False, max_entries=16)
def blocks(model_ref: str, batch: int) -> list[list[str]]:
    from ios_core.ir.partition import find_blocks

    return find_blocks(graph(model_ref, batch))


@st.cache_resource(show_spinner=False, max_entries=16)
def hierarchy(model_ref: str, batch: int) -> Hierarchy:
    """The model's operators grouped by module path, to open one level at a time (frozen)."""
    from ios_core.ir.hierarchy import build_hierarchy

    return build_hierarchy(graph(model_ref, batch))
