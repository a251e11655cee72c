"""Write the body of one fused loop: a chain of stateless members over a record ``r``.

Each member's component writes its own code through its
:class:`~compiler.components.base.Inline` hook, using the methods of :class:`ChainWriter`; the
writer knows no operator by name. Fields are tracked symbolically while the chain is written: a
field a member computes is held as pending code and evaluated only where it is first needed (a
later condition reads it, or the output record is built), so a filter after a map skips the
map's work for rejected records. Input records are never modified: a changed record is built
as a new dict.
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
    """Whether a stateless node can remove records, as its component's inline hook says."""
    return node.component.inline.drops(node.params)


@dataclass
class ChainCode:
    """The generated pieces of one fused loop."""

    body: list[str] = field(default_factory=list)
    members: list[MemberCount] = field(default_factory=list)
    imports: set[str] = field(default_factory=set)
    setup: list[str] = field(default_factory=list)
    outputs: list[tuple[str, list[str]]] = field(default_factory=list)


class ChainWriter:
    """Turns the members of a fused node into loop-body lines (see the module docstring).

    ``targets`` maps each successor id of the fused node to its push function.
    """

    def __init__(self, names: Names, upstream: Schema, targets: dict[str, str]) -> None:
        self.names = names
        self.targets = targets
        self.code = ChainCode()
        self.base = "r"
        self.schema = upstream
        self.locals: dict[str, str] = {}
        self.pending: dict[str, str] = {}
        self.order: list[str] | None = None  # the exact fields once the record is rebuilt
        self.changed: list[str] = []
        self.reject: list[str] = []  # the lines that drop the record, for the member being written

    # -- what an inline hook uses -------------------------------------------------------
    def _read(self, name: str, default: ast.expr | None = None) -> ast.expr:
        """Code reading a field: a local if the chain computed it, ``r.get`` for an optional
        field (absent reads as None), ``r[...]`` otherwise (absent raises: the record is set aside)."""
        if name in self.pending:
            local = self.local(name)
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

    def render(self, expr: Expression) -> str:
        """Code for the value of ``expr`` on the current record (fields it reads are computed first)."""
        if expr.uses_math:
            self.require("import math")
        record = ast.parse(self.record(), mode="eval").body if expr.reads_whole_record else None
        return render(expr, self._read, record)

    def line(self, code: str) -> None:
        """Append one line to the loop body."""
        self.code.body.append(code)

    def before_loop(self, code: str) -> None:
        """Add one line that runs once per batch, before the loop."""
        self.code.setup.append(code)

    def require(self, import_line: str) -> None:
        """Have the module import something the member's code uses (``import math``)."""
        self.code.imports.add(import_line)

    def local(self, hint: str) -> str:
        """A fresh local variable named after ``hint`` (``v_<hint>``)."""
        return self.names.take("v", hint)

    def literal(self, value: object) -> str:
        """Source text of a config value (see :func:`~compiler.codegen.literals.py_literal`)."""
        return py_literal(value)

    def plugin_function(self, path: str) -> str:
        """The local name of the plugin function at ``module:function``, imported by the module."""
        module, func = path.split(":")
        alias = self.names.take("plugin", func)
        self.require(f"from {module} import {func} as {alias}")
        return alias

    def drop_if(self, test: str) -> None:
        """Drop the record when ``test`` holds (counted as the member's ``dropped``)."""
        self.code.body += [f"if {test}:"] + self.reject

    def assign(self, computed: dict[str, str], keep: list[str] | None = None) -> None:
        """Set fields to code (held pending until read); then, with ``keep``, keep only those fields."""
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

    def replace_record(self, local: str) -> None:
        """From here on the record is the dict in ``local``, whose fields the chain does not know."""
        self.base, self.locals, self.pending, self.order, self.changed = local, {}, {}, None, []

    def split(self) -> dict[str, str]:
        """Give each successor its own output batch, and return the list each one fills.

        The member then hands every record to one of them, as the chain's last member: the
        loop's default hand-over (one batch that every successor gets) is left out.
        """
        lists = {target: self.names.take("out", target) for target in self.targets}
        self.code.outputs += [(lists[target], [push]) for target, push in self.targets.items()]
        return lists

    # -- what the module writer uses ----------------------------------------------------
    def add(self, node: Node, stats_var: str, comment: str, count_drops: bool) -> None:
        """Append the lines of one member to the loop body, written by its component.

        ``count_drops`` False: this member's drops are derived after the loop instead.
        """
        self.code.body.append(f"# {comment}")
        count = MemberCount(node, stats_var, derived=drops(node) and not count_drops)
        if drops(node) and count_drops:
            count.drop_var = self.names.take("drop", node.id)
        self.reject = ([f"    {count.drop_var} += 1"] if count.drop_var else []) + ["    continue"]
        node.component.inline.write(self, node)
        self.schema = node.schema
        self.code.members.append(count)

    def finish(self) -> ChainCode:
        """Close the loop body and return the pieces.

        Unless a member split the stream, the output record goes into one list that every
        successor gets.
        """
        if not self.code.outputs:
            self.before_loop("append = out.append")
            self.line(f"append({self.record()})")
            self.code.outputs.append(("out", list(self.targets.values())))
        return self.code
