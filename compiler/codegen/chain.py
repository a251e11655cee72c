"""Write the body of one fused loop: a chain of maps and filters over a record ``r``.

Fields are tracked symbolically while the chain is written: a field a map computes is held as
pending code and evaluated only where it is first needed (a later condition reads it, or the
output record is built), so a filter after a map skips the map's work for rejected records.
Input records are never modified: a changed record is built as a new dict.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from ..expressions import Expression, render
from ..ir import Node
from ..schema import Schema
from .literals import py_literal
from .names import Names


@dataclass
class MemberCount:
    """How the per-batch counters of one chain member are computed after the loop.

    A member that can drop records counts them in ``drop_var`` inside the loop, except the
    last such member (``derived``): its drops follow from the batch sizes after the loop, which
    keeps a counter increment out of the hot loop in the common one-filter chain.
    """

    node: Node
    stats_var: str
    drop_var: str | None = None
    derived: bool = False


def drops(node: Node) -> bool:
    """Whether a stateless node can remove records (a filter, a plugin returning None, or a
    router without a default)."""
    if node.type == "operator.router":
        return node.params.default is None
    return node.type == "operator.filter" or (node.type == "operator.map" and node.params.is_plugin())


@dataclass
class ChainCode:
    """The generated pieces of one fused loop."""

    body: list[str] = field(default_factory=list)
    members: list[MemberCount] = field(default_factory=list)
    plugins: list[tuple[str, str, str]] = field(default_factory=list)
    imports: set[str] = field(default_factory=set)
    setup: list[str] = field(default_factory=list)
    outputs: list[tuple[str, list[str]]] = field(default_factory=list)


class ChainWriter:
    """Turns the members of a fused node into loop-body lines (see the module docstring)."""

    def __init__(self, names: Names, upstream: Schema) -> None:
        self.names = names
        self.code = ChainCode()
        self.base = "r"
        self.schema = upstream
        self.locals: dict[str, str] = {}
        self.pending: dict[str, str] = {}
        self.order: list[str] | None = None  # the exact fields once the record is rebuilt
        self.changed: list[str] = []
        self.router: tuple[Node, list[str]] | None = None

    # -- field access -------------------------------------------------------------------
    def _read(self, name: str, default: ast.expr | None = None) -> ast.expr:
        """Code reading a field: a local if the chain computed it, ``r.get`` for an optional
        field (absent reads as None), ``r[...]`` otherwise (absent raises: the record is set aside)."""
        if name in self.pending:
            local = self.names.take("v", name)
            self.code.body.append(f"{local} = {self.pending.pop(name)}")
            self.locals[name] = local
        if name in self.locals:
            return ast.Name(self.locals[name], ast.Load())
        base = ast.Name(self.base, ast.Load())
        if default is not None or self.schema.fields.get(name) is False:
            args = [ast.Constant(name)] + ([default] if default is not None else [])
            return ast.Call(ast.Attribute(base, "get", ast.Load()), args, [])
        return ast.Subscript(base, ast.Constant(name), ast.Load())

    def _value(self, name: str) -> str:
        if name in self.pending:
            return self.pending[name]
        return ast.unparse(self._read(name))

    def record(self) -> str:
        """Code for the current record, built as a new dict only if the chain changed it."""
        if self.order is not None:
            items = ", ".join(f"{name!r}: {self._value(name)}" for name in self.order)
            return "{" + items + "}"
        if not self.changed:
            return self.base
        items = ", ".join(f"{name!r}: {self._value(name)}" for name in self.changed)
        return "{**" + self.base + ", " + items + "}"

    def _render(self, expr: Expression) -> str:
        if expr.uses_math:
            self.code.imports.add("import math")
        record = ast.parse(self.record(), mode="eval").body if expr.reads_whole_record else None
        return render(expr, self._read, record)

    # -- members ------------------------------------------------------------------------
    def add(self, node: Node, stats_var: str, comment: str, count_drops: bool) -> None:
        """Append the lines of one member (a map or a filter) to the loop body.

        ``count_drops`` False: this member's drops are derived after the loop instead.
        """
        self.code.body.append(f"# {comment}")
        count = MemberCount(node, stats_var, derived=drops(node) and not count_drops)
        if drops(node) and count_drops:
            count.drop_var = self.names.take("drop", node.id)
        reject = ([f"    {count.drop_var} += 1"] if count.drop_var else []) + ["    continue"]
        if node.type == "operator.filter":
            condition = self._render(next(iter(node.expressions.values())))
            self.code.body += [f"if not ({condition}):"] + reject
        elif node.type == "operator.hash_partition":
            key = self._render(node.expressions[("key",)])
            self.code.imports.add("from runtime_lib.hashing import stable_hash")
            self._assign({node.params.field: f"stable_hash({key}) % {node.params.num_partitions}"}, keep=None)
        elif node.type == "operator.router":
            self.router = (node, reject)
        elif node.params.is_plugin():
            module, func = node.params.fn.strip().split(":")
            alias = self.names.take("plugin", func)
            self.code.plugins.append((module, func, alias))
            result = self.names.take("v", f"{node.id}_out")
            self.code.body += [f"{result} = {alias}({self.record()})", f"if {result} is None:"] + reject
            self.base, self.locals, self.pending, self.order, self.changed = result, {}, {}, None, []
        else:
            self._map(node)
        self.schema = node.schema
        self.code.members.append(count)

    def _map(self, node: Node) -> None:
        params = node.params
        if params.fields is not None or params.select is not None:
            computed = {
                name: self._render(node.expressions[("fields", name)]) for name in params.fields or {}
            }
            self._assign(computed, keep=params.select)
            return
        expr = node.expressions[("expr",)] if params.expr is not None else node.expressions[("fn",)]
        body = expr.body
        computed, unpacks = {}, False
        for key, value in zip(body.keys, body.values):
            if key is None:
                unpacks = True
                continue
            sub = Expression(
                expr.text, value, expr.record_name, expr.fields, expr.uses_math, expr.reads_whole_record
            )
            computed[key.value] = self._render(sub)
        keep = None if unpacks else list(computed)
        self._assign(computed, keep=keep)

    def _assign(self, computed: dict[str, str], keep: list[str] | None) -> None:
        for name, code in computed.items():
            self.locals.pop(name, None)
            self.pending[name] = code
            if name in self.changed:
                self.changed.remove(name)
            self.changed.append(name)
            if self.order is not None and name not in self.order:
                self.order.append(name)
        if keep is not None:
            for name in keep:
                if name not in self.pending and name not in self.locals and self.order is None:
                    self.pending[name] = ast.unparse(self._read(name))
            self.order = list(keep)

    def finish(self, targets: dict[str, str]) -> ChainCode:
        """Close the loop body with the hand-over of the output record, and return the pieces.

        ``targets`` maps each successor id to its push function. A chain ending in a router
        fills one list per successor; any other chain fills one list that every successor gets.
        """
        if self.router is None:
            self.code.setup.append("append = out.append")
            self.code.body.append(f"append({self.record()})")
            self.code.outputs.append(("out", list(targets.values())))
            return self.code
        node, reject = self.router
        lists = {target: self.names.take("out", target) for target in targets}
        self.code.outputs += [(lists[target], [push]) for target, push in targets.items()]
        routes = ", ".join(
            f"{py_literal(value)}: {lists[target]}.append" for value, target in node.params.routes.items()
        )
        default = f"{lists[node.params.default]}.append" if node.params.default is not None else "None"
        self.code.setup.append(f"route = {{{routes}}}.get")
        key = self._render(node.expressions[("key",)])
        self.code.body += [f"target = route({key}, {default})"]
        if node.params.default is None:
            self.code.body += ["if target is None:"] + reject
        self.code.body.append(f"target({self.record()})")
        return self.code
