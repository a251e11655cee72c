"""Custom node types registered by the calling code, for the configs the Python API runs.

``registry.register_operator("operator.custom.filter", fn)`` lets a config write ``type:
operator.custom.filter`` without a ``plugins:`` entry: the calling code handed the function over
itself, which is its opt-in. The generated module still imports the function by its module path,
so it must be importable by name: defined with ``def`` (or ``class``) at the top level of a module
that has a file. A lambda, a nested function and code typed into an interactive ``__main__`` are
refused when registered, with a message that says why.

Operators follow :mod:`compiler.components.functions` (a function of a record, or an async
generator over ``src``). A provider is a :class:`runtime_lib.sources.base.Source` subclass: the
generated module builds it as ``Cls(node_id, **params)``, its params are the parameters of its
``__init__`` after ``node_id`` (checked like an operator's), and it implements ``async def
batches()`` yielding lists of records (see the README's "Custom providers").
"""

from __future__ import annotations

import hashlib
import inspect
import sys
from collections.abc import Callable

from runtime_lib.sources.base import Source

from .components import REGISTRY, Component
from .components.functions import (
    FunctionShapeError,
    function_component,
    given_params,
    literal_problems,
    params_model,
)
from .components.plugins import TYPE_NAME
from .schema import Schema


class RegistrationError(ValueError):
    """A name or an object that cannot be registered; the message says why and what to do."""


def import_path(obj: object) -> str:
    """``module:name`` of a function or class defined at the top level of a module with a file.

    Raise :class:`RegistrationError` for anything the generated module could not import by name.
    """
    name = getattr(obj, "__qualname__", None)
    module_name = getattr(obj, "__module__", None)
    shown = f"{getattr(obj, '__name__', obj)!r}"
    if name is None or module_name is None:
        raise RegistrationError(f"{shown} has no module and name to import it by")
    if name == "<lambda>":
        raise RegistrationError(
            "a lambda cannot be registered: the generated module imports the function by name, so "
            "define it with def at the top level of a module"
        )
    if "<locals>" in name or "." in name:
        raise RegistrationError(
            f"{shown} is defined inside {'a function' if '<locals>' in name else 'a class'} "
            f"({module_name}.{name}): the generated module imports it by name, so define it at the "
            "top level of a module"
        )
    module = sys.modules.get(module_name)
    if module is None or getattr(module, "__file__", None) is None:
        where = (
            "__main__ without a file (an interactive session or python -c)"
            if module_name == "__main__"
            else module_name
        )
        raise RegistrationError(
            f"{shown} is defined in {where}, which the generated module cannot import: put it in a "
            "module file (mypkg/ops.py) and import it from there"
        )
    if getattr(module, name, None) is not obj:
        raise RegistrationError(
            f"{module_name}.{name} is not {shown} (it was replaced or renamed after it was defined): "
            "register the object the module holds under that name"
        )
    return f"{module_name}:{name}"


def _check_name(name: object, kind: str) -> None:
    if not isinstance(name, str) or not TYPE_NAME.match(name) or not name.startswith(kind + "."):
        raise RegistrationError(
            f"{name!r} is not a {kind} type name: write {kind}.NAME in lower case, for example {kind}.custom.filter"
        )
    if name in REGISTRY:
        raise RegistrationError(f"{name!r} is a built-in type: give the custom one a name of its own")


def provider_component(name: str, cls: type, path: str) -> Component:
    """The node type of a registered provider class (a :class:`Source` subclass)."""
    if not (isinstance(cls, type) and issubclass(cls, Source)):
        raise RegistrationError(
            f"{getattr(cls, '__name__', cls)!r} is not a subclass of runtime_lib.sources.base.Source: a "
            "provider implements async def batches(self) yielding lists of records"
        )
    if cls.batches is Source.batches:
        raise RegistrationError(f"{cls.__name__!r} does not implement batches()")
    try:
        model = params_model(cls, f"{path!r}")
    except FunctionShapeError as exc:
        raise RegistrationError(exc.message) from None
    schema = Schema({}, open=True)
    return Component(
        name,
        model,
        f"{path}: a provider registered through the Python API",
        output=lambda params, upstream: schema,
        runtime=path,
        kwargs=given_params,
        check=literal_problems,
    )


class ComponentRegistry:
    """Type names the calling code adds for the configs :class:`~compiler.api.UnifiedRuntime` runs.

    >>> registry = ComponentRegistry()
    >>> registry.register_operator("operator.custom.x", lambda record: record)
    Traceback (most recent call last):
    ...
    compiler.api_registry.RegistrationError: a lambda cannot be registered: the generated module imports the function by name, so define it with def at the top level of a module
    """

    def __init__(self) -> None:
        self._components: dict[str, Component] = {}
        self._keys: dict[str, str] = {}

    def register_operator(self, name: str, fn: Callable) -> None:
        """Make ``name`` (``operator.custom.filter``) run ``fn``: a function of a record returning a
        record or None, or an async generator over ``src``; its other parameters are the node's params.

        Registering a name again replaces it. Raises :class:`RegistrationError`.
        """
        _check_name(name, "operator")
        path = import_path(fn)
        try:
            component = function_component(fn, path, name)
        except FunctionShapeError as exc:
            raise RegistrationError(exc.message + (f" ({exc.hint})" if exc.hint else "")) from None
        self._add(name, component, path, fn)

    def register_provider(self, name: str, cls: type) -> None:
        """Make ``name`` (``provider.custom``) build ``cls(node_id, **params)``, a
        :class:`runtime_lib.sources.base.Source` subclass. Raises :class:`RegistrationError`."""
        _check_name(name, "provider")
        path = import_path(cls)
        self._add(name, provider_component(name, cls, path), path, cls)

    def _add(self, name: str, component: Component, path: str, obj: Callable) -> None:
        try:
            signature = str(inspect.signature(obj))
        except (TypeError, ValueError):
            signature = ""
        self._components[name] = component
        self._keys[name] = f"{name}={path}{signature}"

    def components(self) -> dict[str, Component]:
        """The registered components by type name."""
        return dict(self._components)

    def names(self) -> list[str]:
        """The registered type names, sorted."""
        return sorted(self._components)

    def cache_key(self) -> str:
        """What the registered names contribute to the run cache's key: each name, the import path
        it stands for and its signature, so a different registry never reuses another's module."""
        if not self._keys:
            return ""
        text = "\n".join(self._keys[name] for name in sorted(self._keys))
        return "registry " + hashlib.sha256(text.encode()).hexdigest()


_DEFAULT = ComponentRegistry()


def default_registry() -> ComponentRegistry:
    """The process-wide registry that :class:`~compiler.api.UnifiedRuntime` uses unless given another."""
    return _DEFAULT
