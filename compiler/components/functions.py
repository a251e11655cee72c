"""Operators written as Python functions, named by import path or registered through the Python API.

A config may name a function as a node type (``type: "mypkg.ops:above"``), the way the older
system registered custom operators. Two shapes are accepted:

- a **function of a record** (``def above(record, threshold: float)``) that returns a new record,
  or None to drop it. It is inlined into the fused loop like ``operator.map``'s ``fn`` plugin: a
  record whose call raises is set aside (counted as an error of the chain and logged), and a
  drop is counted as ``dropped``. It must not modify its argument.
- an **async generator over the stream** (``async def ups(src, threshold: float): async for r in
  src: ... yield r``). It runs as :class:`runtime_lib.operators.function_ops.AsyncGeneratorOperator`,
  which drives it by hand, batch by batch, so the pipeline stays synchronous and deterministic.

The parameters after the first (the record, or ``src``) are the node's params: a pydantic model
is built from the signature, so an unknown param, a missing required one or a value of the wrong
type (by annotation) is an error at its line in the config, like any built-in param. A module
named by path is imported only if :mod:`.trust` allows it; a registered function was handed over
by the calling code itself.
"""

from __future__ import annotations

import hashlib
import inspect
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from ..schema import Schema
from .base import Code, Component, Inline, Params, Problem

if TYPE_CHECKING:
    from ..codegen.chain import ChainWriter
    from ..ir import Node

FUNCTION_TYPE = "operator.function"
ASYNC_GENERATOR_TYPE = "operator.async_generator"
ASYNC_GENERATOR_RUNTIME = "runtime_lib.operators.function_ops:AsyncGeneratorOperator"
SHAPE_HINT = (
    "write def f(record, param: type, ...) returning a record or None, or "
    "async def f(src, param: type, ...) that iterates src with async for and yields records"
)
LITERAL_HINT = "annotate the parameter with str, int, float, bool, or a list, tuple or dict of them"
_OPEN = Schema({}, open=True)


class FunctionShapeError(Exception):
    """A callable that cannot be a node type, with a message and a hint."""

    def __init__(self, message: str, hint: str | None = SHAPE_HINT) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class FunctionParams(Params):
    """Base of the params model built from a function's signature: a parameter may be named like
    a pydantic attribute (``model_x``, ``copy``), and an annotation may name any class."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, protected_namespaces=(), arbitrary_types_allowed=True
    )


def _parameters(target: Callable, shown: str) -> list[inspect.Parameter]:
    """The parameters of ``target`` after its first positional one, with string annotations resolved."""
    try:
        signature = inspect.signature(target, eval_str=True)
    except (TypeError, ValueError) as exc:
        raise FunctionShapeError(f"cannot read the signature of {shown}: {exc}") from None
    except Exception as exc:  # an annotation naming something undefined, evaluated here
        raise FunctionShapeError(
            f"cannot read the annotations of {shown} ({type(exc).__name__}: {exc})",
            "annotations must name types the function's module defines or imports",
        ) from None
    parameters = list(signature.parameters.values())
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if not parameters or parameters[0].kind not in positional:
        raise FunctionShapeError(f"{shown} takes no positional parameter for its input")
    for parameter in parameters[1:]:
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise FunctionShapeError(
                f"{shown} takes {'*' if parameter.kind == parameter.VAR_POSITIONAL else '**'}{parameter.name}",
                "a config sets params by name: write each one out as a parameter",
            )
        if parameter.kind == inspect.Parameter.POSITIONAL_ONLY:
            raise FunctionShapeError(
                f"parameter {parameter.name!r} of {shown} is positional-only",
                "a config sets params by name: remove the / from the signature",
            )
    return parameters[1:]


def params_model(target: Callable, shown: str) -> type[Params]:
    """A params model with one field per parameter of ``target`` after its first positional one.

    A parameter without a default is required; one without an annotation takes any value. A
    parameter whose name starts with ``_`` and that has a default is not a param.

    >>> def above(record, threshold: float, field: str = "price"): ...
    >>> model = params_model(above, "above")
    >>> model.model_validate({"threshold": 2}).threshold
    2.0
    >>> sorted(model.model_fields)
    ['field', 'threshold']
    """
    fields: dict[str, Any] = {}
    for parameter in _parameters(target, shown):
        name = parameter.name
        required = parameter.default is inspect.Parameter.empty
        if name.startswith("_"):
            if required:
                raise FunctionShapeError(
                    f"parameter {name!r} of {shown} starts with _ and has no default",
                    "a config cannot set a name starting with _: rename it, or give it a default",
                )
            continue
        if name.startswith("model_") and hasattr(BaseModel, name):
            raise FunctionShapeError(
                f"parameter {name!r} of {shown} is a name pydantic reserves", "rename it"
            )
        annotation = Any if parameter.annotation is inspect.Parameter.empty else parameter.annotation
        default = ... if required else parameter.default
        fields[name] = (annotation, Field(default, description=f"parameter {name} of {shown}"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a parameter named like a BaseModel method (copy, json) still works
        try:
            return create_model(
                f"{getattr(target, '__name__', 'Function')}Params", __base__=FunctionParams, **fields
            )
        except Exception as exc:  # an annotation pydantic cannot validate with
            raise FunctionShapeError(
                f"cannot build params from the signature of {shown} ({type(exc).__name__}: {exc})",
                LITERAL_HINT,
            ) from None


def given_params(params: BaseModel) -> dict[str, object]:
    """The params the config sets, in signature order; the others keep the function's defaults."""
    return {
        name: getattr(params, name) for name in type(params).model_fields if name in params.model_fields_set
    }


def _is_literal(value: object) -> bool:
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_literal(item) for item in value)
    if isinstance(value, dict):
        return all(_is_literal(key) and _is_literal(item) for key, item in value.items())
    return False


def literal_problems(params: BaseModel) -> list[Problem]:
    """A value the generated module cannot hold as a literal (a datetime a YAML timestamp became)."""
    return [
        Problem(
            (name,),
            f"{name}: a {type(value).__name__} cannot be written into the generated module",
            LITERAL_HINT,
        )
        for name, value in given_params(params).items()
        if not _is_literal(value)
    ]


def is_async_generator(fn: Callable, shown: str) -> bool:
    """Whether ``fn`` is an async generator function (else a plain function); refuse other callables."""
    if inspect.isasyncgenfunction(fn):
        return True
    if inspect.iscoroutinefunction(fn):
        raise FunctionShapeError(f"{shown} is an async function that does not yield")
    if inspect.isgeneratorfunction(fn):
        raise FunctionShapeError(f"{shown} is a generator function, not an async generator")
    if inspect.isfunction(fn) or inspect.isbuiltin(fn):
        return False
    raise FunctionShapeError(f"{shown} is a {type(fn).__name__}, not a function")


def _call_writer(path: str) -> Callable[[ChainWriter, Node], None]:
    """The inline hook of a function of a record: call it, drop on None, go on with its result."""

    def write(writer: ChainWriter, node: Node) -> None:
        alias = writer.plugin_function(path)
        args = "".join(
            f", {name}={writer.literal(value)}" for name, value in given_params(node.params).items()
        )
        result = writer.local(f"{node.id}_out")
        writer.line(f"{result} = {alias}({writer.record()}{args})")
        writer.drop_if(f"{result} is None")
        writer.replace_record(result)

    return write


def _summary(path: str) -> Callable[[BaseModel], str]:
    def summary(params: BaseModel) -> str:
        args = ", ".join(f"{name}={value!r}" for name, value in given_params(params).items())
        return f"{path}({args})" if args else path

    return summary


def generator_alias(path: str) -> str:
    """The module-level name an async generator's function is imported under: readable, and
    distinct for distinct paths (``a.b_c:d`` and ``a_b.c:d`` differ in the hash).

    >>> generator_alias("mypkg.ops:ups")
    'agen_ups_6e5e96ab'
    """
    function = path.split(":")[1]
    return f"agen_{function}_{hashlib.sha256(path.encode()).hexdigest()[:8]}"


def function_component(fn: Callable, path: str, type_name: str | None = None) -> Component:
    """The node type that runs ``fn``, imported as ``path`` (``package.module:function``).

    ``type_name`` is a registered name (``operator.custom.filter``); without it the type is
    :data:`FUNCTION_TYPE` or :data:`ASYNC_GENERATOR_TYPE`. Raises :class:`FunctionShapeError`
    when ``fn`` cannot be one.
    """
    shown = f"{path!r}"
    model = params_model(fn, shown)
    output = lambda params, upstream: None if upstream is None else _OPEN  # noqa: E731
    if not is_async_generator(fn, shown):
        return Component(
            type_name or FUNCTION_TYPE,
            model,
            f"{path}: a function of a record, returning a record or None (inlined)",
            output=output,
            check=literal_problems,
            inline=Inline(_call_writer(path), summary=_summary(path), drops=lambda params: True),
        )
    module, function = path.split(":")
    alias = generator_alias(path)
    code = Code(alias, (f"from {module} import {function} as {alias}",))
    return Component(
        type_name or ASYNC_GENERATOR_TYPE,
        model,
        f"{path}: an async generator over the stream of records",
        output=output,
        runtime=ASYNC_GENERATOR_RUNTIME,
        kwargs=lambda params: {"function": code, "params": given_params(params)},
        check=literal_problems,
    )
