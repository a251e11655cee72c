"""Compile a config into a temporary module and import it, for tests and benchmarks."""

from __future__ import annotations

import itertools
import re
import tempfile
from pathlib import Path
from types import ModuleType

from compiler.cache import import_module_file
from compiler.driver import compile_text

_counter = itertools.count()


def load_compiled(text: str, file: str = "test.yaml") -> ModuleType:
    """Compile config ``text`` and import the generated module."""
    source = compile_text(file, text).source
    folder = Path(tempfile.mkdtemp(prefix="mdp-test-"))
    path = folder / "job.py"
    path.write_text(source, encoding="utf-8")
    return import_module_file(path, f"mdp_test_job_{next(_counter)}")


_CONFIG_LOCATION = re.compile(r'"[^"\n]*\.(?:yaml|json):\d+"')


def without_config_locations(source: str) -> str:
    """``source`` with every ``"file.yaml:LINE"`` literal (a ``ctx.saved_state`` location) masked,
    for comparing the modules of configs that say the same thing in different places."""
    return _CONFIG_LOCATION.sub('"<config>:<line>"', source)
