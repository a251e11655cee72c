"""Where ``mdp run`` keeps compiled modules, keyed by config content, path and the code that compiles it."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from types import ModuleType

from . import __version__

_CODE_PACKAGES = ("compiler", "runtime_lib", "mdp_templates")


def cache_dir() -> Path:
    """``$MDP_CACHE_DIR``, else ``$XDG_CACHE_HOME/mdp``, else ``~/.cache/mdp``."""
    if os.environ.get("MDP_CACHE_DIR"):
        return Path(os.environ["MDP_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mdp"


def code_fingerprint(folders: list[Path]) -> str:
    """Name, size and modification time of every source and template file below ``folders``.

    A module compiled by an edited or upgraded compiler (or for an edited runtime) then gets
    a cache entry of its own even when the version number did not change; reading the file
    metadata takes about a millisecond.
    """
    entries = sorted(
        f"{path}:{stat.st_size}:{stat.st_mtime_ns}"
        for folder in folders
        for path in folder.rglob("*")
        if path.suffix in (".py", ".j2") and (stat := path.stat())
    )
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()


def cached_module_path(job_name: str, config_path: str, config_text: str) -> Path:
    """The cache file for this exact config, path, mdp version and mdp code."""
    code = code_fingerprint([Path(importlib.util.find_spec(name).origin).parent for name in _CODE_PACKAGES])
    key = hashlib.sha256("\0".join((__version__, code, config_path, config_text)).encode()).hexdigest()[:16]
    return cache_dir() / f"{job_name}-{key}.py"


def import_module_file(path: Path, name: str = "mdp_job") -> ModuleType:
    """Import a generated module from its file."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
