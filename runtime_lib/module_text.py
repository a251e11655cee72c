"""A compiled job module made from its source text, in a process that has no compile cache."""

from __future__ import annotations

import types


def module_from_text(source: str, name: str) -> types.ModuleType:
    """The module that the compiled job ``source`` (as mdp wrote it) defines, named ``name``."""
    module = types.ModuleType(name)
    exec(compile(source, "<mdp job>", "exec"), module.__dict__)
    return module
