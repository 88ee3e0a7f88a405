"""Pass 4, lowering: the :class:`Builder` that turns the fx graph into an OpGraph and kernels.

The builder walks the fx graph once, in fx (topological) order, and keeps for every fx node an
expression of its value (:mod:`~ios_core.frontend.exprs`): a :class:`~ios_core.frontend.exprs.Ref`
to the op node that yields it, a folded call, or a constant. Per fx node:

* the ``output`` node: the graph's outputs, the tensors the model returns (a tuple, list or dict
  of them flattened in order; a tuple-valued op returned as is gives one node per piece);
* a value that does not depend on the input: a constant, baked into its readers' kernels;
* a placeholder: a graph input (by name);
* a tuple-valued op: stays lazy; each ``getitem`` on it is lowered on its own;
* anything else: the first rule that takes it (:data:`ios_core.frontend.ops.RULES`: fold a view,
  fold a BatchNorm, fuse an activation, emit a conv...), else the fallback, an opaque ``call``.

The builder owns what all rules share: emitting an op (:meth:`Builder.emit`, :meth:`Builder.add`)
with its name, source and bytes; replaying a node out of place (:meth:`Builder.call_expr`);
materialising a folded view as a node (:meth:`Builder.plain`); and finding the op whose output a
fusion may edit (:meth:`Builder.sole_producer`). Names are module paths
(``Mixed_5b.branch1x1.conv``, the conv that BN and ReLU were folded into), else the enclosing
module path and the fx op name (``Mixed_5b.cat``), made unique with ``_1``, ``_2``...; ``bytes``
counts the input tensors read, the captured tensors and the output.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx

from ios_core.frontend.errors import TraceError
from ios_core.frontend.exprs import Const, Ref, localise
from ios_core.frontend.functionalize import out_of_place, out_of_place_method, without_inplace_flag
from ios_core.frontend.kernels import FnKernel, Kernel
from ios_core.frontend.naming import describe, scope, target_name
from ios_core.frontend.replay import Apply, ModuleCall, Replay, map_tree
from ios_core.frontend.shapes import (
    DYNAMIC,
    META,
    VALUE,
    TensorMeta,
    has_tensor,
    is_dynamic,
    is_tensor_node,
    meta_bytes,
)
from ios_core.ir.graph import OpGraph, OpNode, TensorSpec

__all__ = ["Builder", "Fallback", "Op", "Rule", "base_name"]


@dataclass
class Op:
    """An OpNode under construction: fusion still edits its attrs, kernel and costs."""

    name: str
    kind: str
    inputs: tuple[str, ...]
    shape: tuple[int, ...]
    attrs: dict[str, Any]
    flops: int
    bytes: int
    source: str
    kernel: Kernel

    def freeze(self) -> OpNode:
        """The finished, immutable OpNode."""
        return OpNode(self.name, self.kind, self.inputs, self.shape, dict(self.attrs),
                      int(self.flops), int(self.bytes), self.source)


Rule = Callable[["Builder", fx.Node], bool]  # lowers the node and says True, or leaves it
Fallback = Callable[["Builder", fx.Node], None]  # lowers a node that no rule took


class Builder:
    """Walks the fx graph once, in order, and emits ops (see the module docstring)."""

    def __init__(self, gm: fx.GraphModule, name: str, rules: Iterable[Rule],
                 fallback: Fallback) -> None:
        self.gm, self.name = gm, name
        self.rules, self.fallback = tuple(rules), fallback
        self.modules = dict(gm.named_modules())
        self.sym: dict[fx.Node, Any] = {}  # fx node -> Ref | Const | Apply | literal
        self.ops: dict[str, Op] = {}  # in emission (= topological) order
        self.owner: dict[str, fx.Node] = {}  # op name -> fx node whose value the op now yields
        self.consts: dict[str, torch.Tensor] = {}
        self.materialised: dict[fx.Node, str] = {}
        self.sums: dict[str, list] = {}  # add op -> its (term expression, term meta)s
        self.aliases: dict[fx.Node, fx.Node] = {}  # alias (Identity, eval dropout...) -> source
        self.inputs: list[TensorSpec] = []
        self.outputs: list[str] = []
        self.used: set[str] = set()

    def build(self) -> tuple[OpGraph, dict[str, Kernel]]:
        """The OpGraph and each node's kernel, by node name."""
        for node in self.gm.graph.nodes:
            self._visit(node)
        nodes = tuple(op.freeze() for op in self.ops.values())
        graph = OpGraph(self.name, tuple(self.inputs), nodes, tuple(self.outputs))
        return graph, {name: op.kernel for name, op in self.ops.items()}

    def _visit(self, node: fx.Node) -> None:
        if node.op == "output":
            self._outputs(node.args[0])
        elif not node.meta[DYNAMIC]:
            self.sym[node] = self.constant(node.name, node.meta[VALUE])
        elif node.op == "placeholder":
            meta = node.meta[META]
            name = self.fresh(node.name)
            self.inputs.append(TensorSpec(name, meta.shape, str(meta.dtype).removeprefix("torch.")))
            self.sym[node] = Ref(name)
        elif not isinstance(node.meta[META], TensorMeta):  # a tuple: lazy, read by getitem
            self.sym[node] = self.call_expr(node)
        elif not any(rule(self, node) for rule in self.rules):
            self.fallback(self, node)

    # ---- expressions -----------------------------------------------------------------------------
    def constant(self, key: str, value: Any) -> Any:
        """``value`` as an expression: tensors (also inside tuples and lists) captured by key."""
        if isinstance(value, torch.Tensor):
            self.consts[key] = value.detach()
            return Const(key)
        if isinstance(value, (tuple, list)) and has_tensor(value):
            items = [self.constant(f"{key}.{i}", v) for i, v in enumerate(value)]
            return items if isinstance(value, list) else tuple(items)
        return value

    def arg(self, x: Any) -> Any:
        """The expression of an fx argument: a node's, or the literal itself."""
        return self.sym[x] if isinstance(x, fx.Node) else x

    def call_expr(self, node: fx.Node) -> Apply:
        """Replay of ``node`` itself, out of place, reading its arguments' expressions."""
        args, kwargs = map_tree(tuple(node.args), self.arg), map_tree(dict(node.kwargs), self.arg)
        label = target_name(node)
        if node.op == "call_module":
            module = self.modules[node.target]
            state = [*module.named_parameters(), *module.named_buffers()]
            params = {k: self.constant(f"{node.target}.{k}", v) for k, v in state}
            return Apply(ModuleCall(module), (params, *args), kwargs, label)
        if node.op == "call_method":
            return Apply(out_of_place_method(node.target), args, kwargs, label)
        args, kwargs = without_inplace_flag(node.target, args, kwargs)
        return Apply(out_of_place(node.target), args, kwargs, label)

    # ---- emitting ops ----------------------------------------------------------------------------
    def fresh(self, base: str) -> str:
        """A name not used yet: ``base``, else ``base_1``, ``base_2``..."""
        base = re.sub(r"[^A-Za-z0-9_.]", "_", base) or "op"
        name, i = base, 0
        while name in self.used:
            i += 1
            name = f"{base}_{i}"
        self.used.add(name)
        return name

    def emit(self, node: fx.Node, kind: str, expr: Any, attrs: dict, flops: int, *,
             meta: TensorMeta | None = None, suffix: str = "", bind: bool = True) -> str:
        """Add an op whose kernel is ``expr`` (an FnKernel) for fx node ``node``."""
        inputs, body, tensors = localise(expr, self.consts)
        return self.add(node, kind, inputs, FnKernel(Replay(body), tensors), attrs, flops,
                        tensors.values(), meta=meta, suffix=suffix, bind=bind)

    def add(self, node: fx.Node, kind: str, inputs: tuple[str, ...], kernel: Kernel, attrs: dict,
            flops: int, weights: Iterable[torch.Tensor], *, meta: TensorMeta | None = None,
            suffix: str = "", bind: bool = True) -> str:
        """Add an op with this kernel for fx node ``node`` (which it yields, if ``bind``)."""
        meta = meta or node.meta[META]
        source = str(node.target) if node.op == "call_module" else node.name
        name = self.fresh(base_name(node) + suffix)
        read = sum(meta_bytes(m.meta[META]) for m in node.all_input_nodes if is_dynamic(m))
        nbytes = read + sum(t.numel() * t.element_size() for t in weights) + meta.nbytes
        self.ops[name] = Op(name, kind, inputs, meta.shape, attrs, flops, nbytes, source, kernel)
        self.owner[name] = node
        if bind:
            self.sym[node] = Ref(name)
        return name

    def plain(self, node: fx.Node) -> str:
        """A node name holding ``node``'s value: a folded view is materialised (once)."""
        sym = self.sym[node]
        if isinstance(sym, Ref):
            return sym.name
        if node not in self.materialised:
            attrs = {"target": target_name(node), "view": True}
            self.materialised[node] = self.emit(node, "call", sym, attrs, 0, bind=False)
        return self.materialised[node]

    # ---- fusion ----------------------------------------------------------------------------------
    def alias(self, node: fx.Node, src: fx.Node) -> None:
        """``node`` is ``src`` itself (Identity, eval dropout...): it reads as ``src``, and a
        fusion looks through it (:meth:`sole_producer`)."""
        self.sym[node] = self.sym[src]
        self.aliases[node] = src

    def sole_producer(self, src: Any, reader: fx.Node, *, also: Iterable[fx.Node] = ()
                      ) -> Op | None:
        """The op that yields ``src`` if ``reader`` (and the fx nodes ``also``, which the caller
        absorbs too) are the only ones to read its data, looking through aliases that nothing
        else reads (a conv, then an Identity or eval Dropout, then its BatchNorm or ReLU)."""
        expected = {reader, *also}
        while isinstance(src, fx.Node) and src in self.aliases:
            if set(_readers(src)) != expected:
                return None
            src, expected = self.aliases[src], {src}
        sym = self.sym.get(src) if isinstance(src, fx.Node) else None
        if not isinstance(sym, Ref) or sym.name not in self.ops or self.owner[sym.name] is not src:
            return None
        return self.ops[sym.name] if set(_readers(src)) == expected else None

    def rebind(self, op: Op, node: fx.Node) -> None:
        """Now ``op`` yields ``node``'s value: it absorbed a BatchNorm or an activation."""
        self.owner[op.name] = node
        self.sym[node] = Ref(op.name)

    # ---- outputs ---------------------------------------------------------------------------------
    def _outputs(self, value: Any) -> None:
        leaves = value.values() if isinstance(value, dict) else (
            value if isinstance(value, (tuple, list)) else (value,))
        for leaf in leaves:
            if isinstance(leaf, (tuple, list, dict)):
                self._outputs(leaf)
            elif not is_dynamic(leaf):
                raise TraceError(f"the model returns {leaf!r}, which does not depend on its input; "
                                 "return tensors computed from the input only")
            elif isinstance(leaf.meta[META], TensorMeta):
                self.outputs.append(self.plain(leaf))
            else:  # a tuple-valued op returned as is: one node per piece
                for i in range(len(leaf.meta[META])):
                    self.outputs.append(self._piece(leaf, i))

    def _piece(self, node: fx.Node, i: int) -> str:
        meta = node.meta[META][i]
        if not isinstance(meta, TensorMeta):
            raise TraceError(f"op {describe(node)} returns nested tuples; return tensors instead")
        label = f"{target_name(node)}[{i}]"
        expr = Apply(operator.getitem, (self.sym[node], i), {}, "operator.getitem")
        return self.emit(node, "call", expr, {"target": label}, meta.numel, meta=meta,
                         suffix=f".{i}", bind=False)


def _readers(node: fx.Node) -> list[fx.Node]:
    """The fx nodes that read ``node``'s data (shape queries don't count)."""
    return [u for u in node.users if u.meta.get(DYNAMIC, True)]


def base_name(node: fx.Node) -> str:
    """Readable name: the module path, else the enclosing module path and the op's fx name."""
    if node.op == "call_module":
        return str(node.target)
    src = node.args[0] if node.args else None
    if node.target is operator.getitem and isinstance(src, fx.Node) and not is_tensor_node(src):
        return f"{base_name(src)}.{node.args[1]}"  # a piece of a tuple op: topk.0
    stem = re.sub(r"_\d+$", "", node.name)  # fx numbers repeats: cat, cat_1, ...
    path = scope(node)
    return f"{path}.{stem}" if path else stem
