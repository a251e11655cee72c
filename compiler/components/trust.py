"""Which modules a config may run code from: plugins are code, and code is opted into.

A node ``type: "package.module:NAME"`` and a map's ``fn: "package.module:function"`` name a
module, and importing a module runs its top-level code. So such a module is imported only once
it is allowed, and it is allowed when it is (or is inside):

- a top-level package of an installed distribution that declares an ``mdp.components`` entry
  point (installing it opted in), or the package an entry point's value names;
- a module the config lists under its top-level ``plugins:`` key (reviewed with the config);
- a module listed in the ``MDP_PLUGINS`` environment variable (comma-separated).

Listing ``mypkg`` allows ``mypkg`` and every ``mypkg.*``; listing ``mypkg.ops`` allows
``mypkg.ops`` and below (importing it also runs ``mypkg/__init__.py``). The standard library
and mdp's own packages are never plugins, whatever is listed. The config's list is in force
while :func:`listing` is active (the compiler's build of one config). A plugin component's
``runtime`` class is the component's choice, not the config's, and is not checked here.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import re
import sys
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from importlib import metadata
from types import ModuleType

ENTRY_POINT_GROUP = "mdp.components"
ENV_VAR = "MDP_PLUGINS"
MDP_PACKAGES = frozenset({"compiler", "runtime_lib", "mdp_templates"})
MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
ALLOW_HINT = f"if you trust its code, list it under plugins: in the config, or in {ENV_VAR}"
NEVER_HINT = "plugins come from packages of your own, listed under plugins: in the config"

_config_listed: ContextVar[tuple[str, ...]] = ContextVar("mdp_config_plugins", default=())


class PluginError(Exception):
    """A module that may not or cannot be imported as a plugin, with a message and a hint."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def never_a_plugin(module_name: str) -> str | None:
    """Why ``module_name`` can never be a plugin (standard library, mdp itself), or None.

    >>> never_a_plugin("subprocess")
    "module 'subprocess' is in the standard library, which is never a plugin"
    >>> never_a_plugin("mypkg.ops") is None
    True
    """
    top = module_name.split(".")[0]
    if top in sys.stdlib_module_names:
        return f"module {module_name!r} is in the standard library, which is never a plugin"
    if top in MDP_PACKAGES:
        return f"module {module_name!r} is part of mdp, not a plugin"
    return None


def listing_problem(entry: str) -> tuple[str, str] | None:
    """Why ``entry`` of a ``plugins:`` list is wrong, as (message, hint), or None."""
    if not MODULE_NAME.match(entry):
        return f"not a module name: {entry!r}", "write a dotted module name, for example mypkg.ops"
    never = never_a_plugin(entry)
    if never:
        return never, NEVER_HINT
    return None


def env_listed() -> tuple[str, ...]:
    """The module names listed in ``MDP_PLUGINS`` (comma-separated; blanks ignored)."""
    return tuple(name.strip() for name in os.environ.get(ENV_VAR, "").split(",") if name.strip())


@contextlib.contextmanager
def listing(modules: Iterable[str]) -> Iterator[None]:
    """Allow the modules a config lists under ``plugins:`` for the duration of a block."""
    token = _config_listed.set(tuple(modules))
    try:
        yield
    finally:
        _config_listed.reset(token)


def _dist_packages(dist: metadata.Distribution) -> set[str]:
    """The top-level packages and modules a distribution installs, read from its metadata."""
    declared = dist.read_text("top_level.txt")
    if declared:
        return set(declared.split())
    found = set()
    for file in dist.files or ():
        parts = file.parts
        if file.suffix == ".py" and parts and not parts[0].endswith((".dist-info", ".egg-info")):
            found.add(parts[0].removesuffix(".py"))
    return found


@functools.cache
def installed_packages() -> frozenset[str]:
    """The packages of distributions declaring ``mdp.components`` entry points; nothing is imported."""
    found = set()
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.add(entry_point.value.split(":")[0].strip().split(".")[0])
        dist = getattr(entry_point, "dist", None)
        if dist is not None:
            found |= _dist_packages(dist)
    return frozenset(found)


def forget() -> None:
    """Forget the installed packages, so the next check sees newly installed ones."""
    installed_packages.cache_clear()


def _within(module_name: str, allowed: Iterable[str]) -> bool:
    return any(module_name == name or module_name.startswith(name + ".") for name in allowed)


def refusal(module_name: str) -> tuple[str, str] | None:
    """Why ``module_name`` may not be imported as a plugin, as (message, hint), or None if it may."""
    never = never_a_plugin(module_name)
    if never:
        return never, NEVER_HINT
    if _within(module_name, (*_config_listed.get(), *env_listed())):
        return None
    if module_name.split(".")[0] in installed_packages():
        return None
    return f"module {module_name!r} is not an allowed plugin", ALLOW_HINT


def import_plugin(module_name: str, path: str, check: bool = True) -> ModuleType:
    """Import the module of ``path`` (``module:NAME``) if it is allowed; else raise :class:`PluginError`.

    A refused module is not imported, so none of its code runs. A module that is missing or
    fails while importing is a :class:`PluginError` too, never a traceback. ``check`` False
    skips the allow check, for a module that allowed code (a plugin component) names.
    """
    refused = refusal(module_name) if check else None
    if refused:
        raise PluginError(*refused)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise PluginError(
                f"cannot import {path!r}: no module named {exc.name!r}",
                "is the plugin's package installed in this environment?",
            ) from None
        raise PluginError(f"importing module {module_name!r} failed: {exc}") from None
    except Exception as exc:  # the plugin's own code failed while importing
        raise PluginError(f"importing module {module_name!r} failed ({type(exc).__name__}: {exc})") from None
