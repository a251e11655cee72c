"""Where ``mdp run`` keeps compiled modules, keyed by config content, path and mdp version."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from types import ModuleType

from . import __version__


def cache_dir() -> Path:
    """``$MDP_CACHE_DIR``, else ``$XDG_CACHE_HOME/mdp``, else ``~/.cache/mdp``."""
    if os.environ.get("MDP_CACHE_DIR"):
        return Path(os.environ["MDP_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mdp"


def cached_module_path(job_name: str, config_path: str, config_text: str) -> Path:
    """The cache file for this exact config, path and mdp version."""
    key = hashlib.sha256("\0".join((__version__, config_path, config_text)).encode()).hexdigest()[:16]
    return cache_dir() / f"{job_name}-{key}.py"


def import_module_file(path: Path, name: str = "mdp_job") -> ModuleType:
    """Import a generated module from its file."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
