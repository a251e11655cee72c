"""Third-party components: the ``mdp.components`` entry-point group and ``module:NAME`` types.

An installed package adds node types by declaring entry points in the group ``mdp.components``;
each entry point loads a :class:`~compiler.components.base.Component` or a tuple of them. A
config may also name a component directly by import path (``type: "mypkg.components:SCALE"``),
or a function of a record or an async generator over records (``type: "mypkg.ops:above"``, see
:mod:`.functions`), from a module that :mod:`.trust` allows; no other module is imported. The
Python API adds types of its own while it compiles a config (:func:`registered`).

Built-in type names always win: a plugin that reuses one is skipped with a warning. A name
registered through the API comes next, before installed plugins. When two plugins claim the
same name, neither is used under it, and a config must pick one by import path. Plugin
components always run as runtime classes (only built-in operators are inlined), so the
generated module imports the class named by the component's ``runtime``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import logging
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from importlib import metadata
from types import MappingProxyType

from pydantic import BaseModel

from runtime_lib.operators.base import Operator
from runtime_lib.sinks.base import Sink
from runtime_lib.sources.base import Source

from ..suggest import did_you_mean
from .base import Component
from .functions import FunctionShapeError, function_component
from .stateless import PLUGIN_PATH
from .trust import ENTRY_POINT_GROUP, PluginError, forget, import_plugin, never_a_plugin

TYPE_NAME = re.compile(r"^(provider|operator|sink)\.[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
IMPORT_PATH_HINT = (
    "write the import path as package.module:NAME, NAME being a Component object, a function of a "
    "record or an async generator over records"
)

log = logging.getLogger("mdp.plugins")
_reported: set[str] = set()
_registered: ContextVar[Mapping[str, Component]] = ContextVar(
    "mdp_registered_components", default=MappingProxyType({})
)


class ComponentNotFound(PluginError):
    """A node type that names no usable component, with a message and an optional hint."""


@dataclass(frozen=True)
class Plugin:
    """A component contributed by an installed package, and where it came from."""

    component: Component
    origin: str


@dataclass(frozen=True)
class Installed:
    """What the entry points provide once built-ins have taken their names.

    ``plugins`` maps a type name to its plugin; ``conflicts`` maps a type name that several
    plugins claim to their origins; ``problems`` says what was skipped and why.
    """

    plugins: dict[str, Plugin]
    conflicts: dict[str, tuple[str, ...]]
    problems: tuple[str, ...]


def component_problem(obj: object) -> str | None:
    """Why ``obj`` cannot be used as a plugin component, or None if it can.

    >>> component_problem("operator.scale")
    'it is a str, not an mdp Component'
    """
    if not isinstance(obj, Component):
        return f"it is a {type(obj).__name__}, not an mdp Component"
    if not isinstance(obj.type_name, str) or not TYPE_NAME.match(obj.type_name):
        return (
            f"type name {obj.type_name!r} must be provider.NAME, operator.NAME or sink.NAME " "in lower case"
        )
    if not (isinstance(obj.params, type) and issubclass(obj.params, BaseModel)):
        return f"{obj.type_name}: params must be a pydantic model class (subclass compiler.components.Params)"
    if not isinstance(obj.runtime, str) or not PLUGIN_PATH.match(obj.runtime):
        return (
            f"{obj.type_name}: runtime must name the class the generated code instantiates, as "
            "'package.module:Class' (only built-in operators are inlined)"
        )
    if obj.kwargs is None:
        return f"{obj.type_name}: kwargs must turn the params into the runtime class's keyword arguments"
    if obj.splits:
        return f"{obj.type_name}: only built-in operators can split a stream"
    if obj.inline is not None:
        return f"{obj.type_name}: only built-in operators are inlined into fused loops"
    return None


def _origin(entry_point: metadata.EntryPoint) -> str:
    dist = getattr(entry_point, "dist", None)
    package = f" of {dist.name} {dist.version}" if dist is not None else ""
    return f"entry point {entry_point.name!r}{package} ({entry_point.value})"


def _report_once(problems: tuple[str, ...]) -> None:
    for problem in problems:
        if problem not in _reported:
            _reported.add(problem)
            log.warning("mdp plugin: %s", problem)


@functools.cache
def _entry_point_components() -> tuple[tuple[tuple[str, Component], ...], tuple[str, ...]]:
    """Load every ``mdp.components`` entry point once: (origin, component) pairs and problems."""
    found, problems = [], []
    entry_points = metadata.entry_points(group=ENTRY_POINT_GROUP)
    for entry_point in sorted(entry_points, key=lambda ep: (_origin(ep), ep.name)):
        origin = _origin(entry_point)
        never = never_a_plugin(entry_point.value.split(":")[0].strip())
        if never:
            problems.append(f"{origin}: {never}; skipped")
            continue
        try:
            loaded = entry_point.load()
        except Exception as exc:  # a broken plugin must not break the compiler
            problems.append(f"{origin} failed to load ({type(exc).__name__}: {exc}); skipped")
            continue
        items = tuple(loaded) if isinstance(loaded, (tuple, list)) else (loaded,)
        if not items:
            problems.append(f"{origin} provides no components")
        for item in items:
            problem = component_problem(item)
            if problem:
                problems.append(f"{origin}: {problem}; skipped")
            else:
                found.append((origin, item))
    return tuple(found), tuple(problems)


def refresh() -> None:
    """Forget the loaded entry points, so the next lookup sees newly installed packages."""
    _entry_point_components.cache_clear()
    forget()
    importlib.invalidate_caches()


def installed(builtins: Mapping[str, Component]) -> Installed:
    """The plugin components by type name, with built-in names taken first."""
    found, problems = _entry_point_components()
    problems = list(problems)
    claims: dict[str, list[Plugin]] = {}
    for origin, component in found:
        name = component.type_name
        if name in builtins:
            if builtins[name] is not component:
                problems.append(
                    f"{origin}: {name!r} is a built-in type; the built-in is used and the "
                    "plugin's component is skipped (give it another name)"
                )
            continue
        claimed = claims.setdefault(name, [])
        if all(plugin.component is not component for plugin in claimed):
            claimed.append(Plugin(component, origin))
    conflicts = {
        name: tuple(p.origin for p in claimed) for name, claimed in claims.items() if len(claimed) > 1
    }
    for name, origins in sorted(conflicts.items()):
        problems.append(
            f"{name!r} is defined by {' and by '.join(origins)}; neither is used under that "
            "name (name the one you mean by import path, package.module:NAME)"
        )
    _report_once(tuple(problems))
    plugins = {name: claimed[0] for name, claimed in claims.items() if len(claimed) == 1}
    return Installed(plugins, conflicts, tuple(problems))


@contextlib.contextmanager
def registered(components: Mapping[str, Component]) -> Iterator[None]:
    """Resolve these type names to these components for the duration of a block (the Python API's
    registry, in force while it compiles a config). The calling code opted into their code."""
    token = _registered.set(dict(components))
    try:
        yield
    finally:
        _registered.reset(token)


def _import_module(module_name: str, path: str):
    try:
        return import_plugin(module_name, path)
    except PluginError as exc:
        raise ComponentNotFound(exc.message, exc.hint) from None


def import_component(path: str, builtins: Mapping[str, Component]) -> Component:
    """The component that ``path`` (``package.module:NAME``) names; raise :class:`ComponentNotFound`.

    >>> import_component("mypkg:not valid", {})
    Traceback (most recent call last):
    ...
    compiler.components.plugins.ComponentNotFound: not an import path: 'mypkg:not valid'
    """
    if not PLUGIN_PATH.match(path):
        raise ComponentNotFound(f"not an import path: {path!r}", IMPORT_PATH_HINT)
    module_name, attribute = path.split(":")
    module = _import_module(module_name, path)
    if not hasattr(module, attribute):
        components = [name for name, value in vars(module).items() if isinstance(value, Component)]
        functions = [name for name, value in vars(module).items() if _defined_function(value, module_name)]
        hint = did_you_mean(attribute, components + functions) or (
            f"components in {module_name}: {', '.join(sorted(components))}"
            if components
            else IMPORT_PATH_HINT
        )
        raise ComponentNotFound(f"module {module_name!r} has no attribute {attribute!r}", hint)
    component = getattr(module, attribute)
    if inspect.isfunction(component):
        try:
            return function_component(component, path)
        except FunctionShapeError as exc:
            raise ComponentNotFound(
                f"{path!r} cannot be used as a node type: {exc.message}", exc.hint
            ) from None
    problem = component_problem(component)
    if problem:
        raise ComponentNotFound(f"{path!r} cannot be used as a node type: {problem}", IMPORT_PATH_HINT)
    builtin = builtins.get(component.type_name)
    if builtin is not None and builtin is not component:
        raise ComponentNotFound(
            f"{path!r} defines {component.type_name!r}, which is a built-in type",
            "a plugin component needs a type name of its own",
        )
    return component


def _defined_function(value: object, module_name: str) -> bool:
    """Whether a module attribute is a function the module defines (not one it imports)."""
    return inspect.isfunction(value) and value.__module__ == module_name


def check_runtime(component: Component) -> None:
    """Import the runtime class of a plugin component, so a wrong name fails at compile time.

    The component is allowed code, and the runtime module is its choice, not the config's: it
    is imported without an allow check of its own.
    """
    module_name, cls_name = component.runtime.split(":")
    where = f"runtime {component.runtime!r} of {component.type_name!r}"
    try:
        module = import_plugin(module_name, component.runtime, check=False)
    except PluginError as exc:
        raise ComponentNotFound(f"{where}: {exc.message}", exc.hint) from None
    cls = getattr(module, cls_name, None)
    if cls is None:
        raise ComponentNotFound(f"{where}: module {module_name!r} has no attribute {cls_name!r}")
    base = {"provider": Source, "operator": Operator, "sink": Sink}[component.kind]
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ComponentNotFound(f"{where} is not a subclass of {base.__module__}.{base.__name__}")


def resolve(type_name: str, builtins: Mapping[str, Component]) -> Component:
    """The component for a node's ``type``: built-in, registered through the API, plugin, or import path.

    Raise :class:`ComponentNotFound` with a did-you-mean hint when there is none.
    """
    if type_name in builtins:
        return builtins[type_name]
    registered_now = _registered.get()
    if type_name in registered_now:
        return registered_now[type_name]
    if ":" in type_name:
        component = import_component(type_name, builtins)
    else:
        found = installed(builtins)
        if type_name in found.conflicts:
            raise ComponentNotFound(
                f"node type {type_name!r} is defined by more than one plugin: "
                + "; ".join(found.conflicts[type_name]),
                "name the one you mean by import path (package.module:NAME), or uninstall one",
            )
        plugin = found.plugins.get(type_name)
        if plugin is None:
            known = sorted({**found.plugins, **registered_now, **builtins})
            hint = did_you_mean(type_name, known) or "known types: " + ", ".join(known)
            raise ComponentNotFound(f"unknown node type {type_name!r}", hint)
        component = plugin.component
    if component.runtime is not None:  # a function of a record is inlined and has none
        check_runtime(component)
    return component
