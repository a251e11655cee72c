"""Install ``tests/support/example_plugin`` once per test run, offline, and put it on ``sys.path`` on demand.

The package is installed with ``pip install --target`` into a temporary folder (never into the
environment), so ``importlib.metadata`` sees its ``mdp.components`` entry points only while the
folder is on ``sys.path``.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from compiler.components.plugins import refresh

PLUGIN_SOURCE = Path(__file__).parent / "example_plugin"
PIP_TIMEOUT_S = 300


@functools.cache
def install_dir() -> Path:
    """Build and install the example plugin into a temporary folder and return that folder."""
    root = Path(tempfile.mkdtemp(prefix="mdp-plugin-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    source = root / "src"  # a copy, so the build leaves nothing in the repository
    shutil.copytree(
        PLUGIN_SOURCE, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info")
    )
    target = root / "site"
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "--target",
        str(target),
        str(source),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    if result.returncode != 0:
        raise RuntimeError(f"installing the example plugin failed:\n{result.stdout}\n{result.stderr}")
    return target


@contextlib.contextmanager
def activated() -> Iterator[Path]:
    """Put the installed plugin on ``sys.path`` (and forget loaded entry points) for a block."""
    target = str(install_dir())
    sys.path.insert(0, target)
    refresh()
    try:
        yield Path(target)
    finally:
        sys.path.remove(target)
        refresh()
