"""Stateless operators (map, filter): inlined by the compiler into fused loops.

Each component's :class:`~.base.Inline` hook writes its code into the loop (see
:mod:`compiler.codegen.chain`).
"""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING, Any

from pydantic import Field, ModelWrapValidatorHandler, PrivateAttr, model_validator

from ..expressions import Expression, ExpressionError, parse_expression
from ..schema import Schema
from .base import Component, Inline, Params, Problem
from .seed_aliases import registry_function_problem
from .trust import PluginError, import_plugin

if TYPE_CHECKING:
    from ..codegen.chain import ChainWriter
    from ..ir import Node

PLUGIN_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")


class MapParams(Params):
    """Add or replace fields, project, or rebuild each record.

    ``fields`` and ``select`` may be combined (fields first, then the projection); ``expr``
    and ``fn`` stand alone.
    """

    fields: dict[str, str] | None = Field(None, description="{name: expression} fields to add or replace")
    select: list[str] | None = Field(None, description="keep only these fields, in this order")
    expr: str | None = Field(None, description="an expression building the whole record: {'a': price, ...}")
    fn: str | None = Field(
        None, description="'lambda x: {...}' (seed style) or a plugin 'package.module:function'"
    )
    _older_fn_name: object = PrivateAttr(None)

    @model_validator(mode="wrap")
    @classmethod
    def _refuse_fn_name(cls, data: Any, handler: ModelWrapValidatorHandler) -> Any:
        """The older system's ``fn_name`` (a function in its registry) is refused by the check,
        which says what to write instead; the node's other params are moot until then."""
        if not isinstance(data, dict) or "fn_name" not in data:
            return handler(data)
        params = cls.model_construct()
        params._older_fn_name = data["fn_name"]
        return params

    @model_validator(mode="after")
    def _one_form(self) -> MapParams:
        if self._older_fn_name is not None:
            return self
        forms = [name for name in ("expr", "fn") if getattr(self, name) is not None]
        if self.fields is not None or self.select is not None:
            forms.insert(0, "fields/select")
        if len(forms) != 1:
            raise ValueError("operator.map takes fields and/or select, or expr, or fn (exactly one form)")
        return self

    def is_plugin(self) -> bool:
        """Whether ``fn`` names a plugin function rather than a lambda."""
        return self.fn is not None and not self.fn.lstrip().startswith("lambda")


class FilterParams(Params):
    """Keep the records for which a condition holds."""

    where: str | None = Field(None, description="condition on the record's fields, e.g. size >= 100")
    predicate: str | None = Field(None, description="seed style: 'lambda x: x[\"size\"] >= 100'")

    @model_validator(mode="after")
    def _one_form(self) -> FilterParams:
        if (self.where is None) == (self.predicate is None):
            raise ValueError("operator.filter takes exactly one of where or predicate")
        return self

    def condition(self) -> tuple[str, str]:
        """The param name holding the condition, and its text."""
        return ("where", self.where) if self.where is not None else ("predicate", self.predicate)


def _map_expressions(params: MapParams) -> dict[tuple, str]:
    found = {("fields", name): text for name, text in (params.fields or {}).items()}
    if params.expr is not None:
        found[("expr",)] = params.expr
    if params.fn is not None and not params.is_plugin():
        found[("fn",)] = params.fn
    return found


def _map_requires(params: MapParams) -> list[tuple[tuple, str]]:
    added = set(params.fields or {})
    return [
        (("params", "select", i), name) for i, name in enumerate(params.select or []) if name not in added
    ]


def record_keys(text: str) -> tuple[list[str], bool] | None:
    """For an expression that builds a record: its constant keys and whether it unpacks the input.

    Returns None when the expression is not a ``{...}`` mapping display.
    """
    body = parse_expression(text).body
    if not isinstance(body, ast.Dict):
        return None
    keys = [k.value for k in body.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
    if len(keys) + sum(k is None for k in body.keys) != len(body.keys):
        return None
    return keys, any(k is None for k in body.keys)


def _map_check(params: MapParams) -> list[Problem]:
    if params._older_fn_name is not None:
        return [registry_function_problem(params._older_fn_name)]
    problems = []
    for name in ("expr", "fn"):
        text = getattr(params, name)
        if text is None or (name == "fn" and params.is_plugin()):
            continue
        try:
            built = record_keys(text)
        except ExpressionError:
            continue  # reported with its column by the expression check
        if built is None:
            problems.append(
                Problem(
                    (name,),
                    f"{name} must build a record as a {{...}} mapping with quoted keys",
                    "for example {'symbol': symbol, 'mid': (bid + ask) / 2}",
                )
            )
        elif _unpack_not_first(text):
            problems.append(
                Problem(
                    (name,),
                    "**x must come first in the record it builds",
                    "write {**x, 'field': ...}: the fields after it replace the record's",
                )
            )
    if params.is_plugin():
        if not PLUGIN_PATH.match(params.fn.strip()):
            problems.append(
                Problem(
                    ("fn",), f"not a plugin path: {params.fn!r}", "write a lambda, or package.module:function"
                )
            )
        else:
            missing = _missing_plugin(params.fn.strip())
            if missing:
                problems.append(Problem(("fn",), *missing))
    return problems


def _unpack_not_first(text: str) -> bool:
    """Whether a record expression unpacks the input anywhere but as its first item."""
    keys = parse_expression(text).body.keys
    return any(key is None for key in keys[1:])


def _missing_plugin(path: str) -> tuple[str, str | None] | None:
    """Why the plugin function at ``module:function`` cannot be used, as (message, hint), or None.

    The module is imported only if :mod:`.trust` allows it.
    """
    module_name, function = path.split(":")
    try:
        module = import_plugin(module_name, path)
    except PluginError as exc:
        return exc.message, exc.hint
    if not callable(getattr(module, function, None)):
        return f"plugin module {module_name!r} has no function {function!r}", "fix the path"
    return None


def _map_output(params: MapParams, upstream: Schema | None) -> Schema | None:
    if upstream is None:
        return None
    if params.is_plugin():
        return Schema({}, open=True)
    if params.expr is not None or params.fn is not None:
        keys, unpacks = record_keys(params.expr or params.fn)
        base = dict(upstream.fields) if unpacks else {}
        base.update({k: True for k in keys})
        return Schema(base, upstream.open and unpacks)
    fields = dict(upstream.fields)
    fields.update({name: True for name in params.fields or {}})
    if params.select is not None:
        return Schema({name: fields.get(name, True) for name in params.select})
    return Schema(fields, upstream.open)


def _write_map(writer: ChainWriter, node: Node) -> None:
    """A map's code: fields assigned symbolically, or a call of its plugin function."""
    params = node.params
    if params.is_plugin():
        alias = writer.plugin_function(params.fn.strip())
        result = writer.local(f"{node.id}_out")
        writer.line(f"{result} = {alias}({writer.record()})")
        writer.drop_if(f"{result} is None")
        writer.replace_record(result)
    elif params.fields is not None or params.select is not None:
        computed = {name: writer.render(node.expressions[("fields", name)]) for name in params.fields or {}}
        writer.assign(computed, keep=params.select)
    else:
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
            computed[key.value] = writer.render(sub)
        writer.assign(computed, keep=None if unpacks else list(computed))


def _map_summary(params: MapParams) -> str:
    parts = []
    if params.fields:
        parts.append("fields " + ", ".join(f"{k} = {v}" for k, v in params.fields.items()))
    if params.select is not None:
        parts.append("select " + ", ".join(params.select))
    if params.expr is not None:
        parts.append("expr " + params.expr)
    if params.fn is not None:
        parts.append("fn " + params.fn)
    return "; ".join(parts)


def _write_filter(writer: ChainWriter, node: Node) -> None:
    """A filter's code: drop the record unless its condition holds."""
    condition = writer.render(node.expressions[(node.params.condition()[0],)])
    writer.drop_if(f"not ({condition})")


COMPONENTS = (
    Component(
        "operator.map",
        MapParams,
        "add/replace fields, project, or rebuild records (inlined)",
        output=_map_output,
        expressions=_map_expressions,
        requires=_map_requires,
        check=_map_check,
        inline=Inline(_write_map, summary=_map_summary, drops=MapParams.is_plugin),
    ),
    Component(
        "operator.filter",
        FilterParams,
        "keep records for which a condition holds (inlined)",
        output=lambda params, upstream: upstream,
        expressions=lambda params: {(params.condition()[0],): params.condition()[1]},
        inline=Inline(
            _write_filter, summary=lambda params: "where " + params.condition()[1], drops=lambda params: True
        ),
    ),
)
