"""What the Python API runs: a config (a file, a dict or ``MDP_UNIFIED_CONFIG``) and its settings.

Each setting resolves as ``mdp run`` resolves it, first match wins: a keyword given here (the
API's counterpart of a command-line flag), then the ``MDP_UNIFIED_*`` environment, then the
config itself, then the default. So ``MDP_UNIFIED_MODE`` or ``MDP_UNIFIED_DAG_JSON`` override a
file and a dict alike. Nothing is read until a job runs: the environment in force then counts.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from runtime_lib.limits import positive_count, positive_seconds

from .diagnostics import Diagnostic, render_all
from .settings import env_name, setting_texts

DICT_SOURCE = "from_dict.json"


class RuntimeMode(str, Enum):
    """The config section a job is compiled from."""

    dag = "dag"
    classic = "classic"


class ConfigError(Exception):
    """A config or settings mistake, found before the job started.

    ``diagnostics`` holds every problem, each located at a file (or ``$MDP_UNIFIED_*`` variable,
    or the dict given to ``from_dict``), line and column; ``str()`` renders them as ``mdp run``
    prints them, with the source line and a caret.
    """

    def __init__(self, diagnostics: list[Diagnostic], texts: dict[str, str]) -> None:
        self.diagnostics = list(diagnostics)
        self.sources = dict(texts)
        for diagnostic in self.diagnostics:
            file = diagnostic.span.file
            if file not in self.sources:
                try:
                    self.sources[file] = Path(file).read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    self.sources[file] = ""
        super().__init__(render_all(self.diagnostics, self.sources))


def _checked(name: str, value: object, check) -> object:
    if value is None:
        return None
    try:
        return check(value)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


@dataclass(frozen=True)
class UnifiedRuntimeSettings:
    """The config to run and the settings given in code; see the module docstring for precedence.

    ``config`` is a config file; ``config_text`` is ``(display name, text)`` of a config held in
    memory (``from_dict``); with neither, ``MDP_UNIFIED_CONFIG`` names the file. ``mode``,
    ``job_name``, ``metrics_port``, ``store_url`` and ``log_level`` override the environment and
    the config; ``duration`` and ``max_events`` are run options, as for ``mdp run`` (an embedded job has no
    grace timer: wrap :meth:`~compiler.api.UnifiedRuntime.stop` in ``asyncio.wait_for`` to bound it).
    """

    config: str | None = None
    config_text: tuple[str, str] | None = None
    mode: str | None = None
    job_name: str | None = None
    metrics_port: int | None = None
    store_url: str | None = None
    log_level: str | None = None
    duration: float | None = None
    max_events: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "duration", _checked("duration", self.duration, positive_seconds))
        object.__setattr__(self, "max_events", _checked("max_events", self.max_events, positive_count))
        if self.mode is not None:
            object.__setattr__(self, "mode", RuntimeMode(self.mode).value)

    @classmethod
    def from_dict(cls, data: dict, source: str = DICT_SOURCE, **overrides: object) -> UnifiedRuntimeSettings:
        """A config given as a dict (the YAML's structure: ``{"mode": "dag", "dag": {...}}``).

        It is held as indented JSON text named ``source`` (``.json`` is added if missing), so that
        diagnostics point at a line and column of that text, which ``str(ConfigError)`` shows.
        A config without ``name`` is named after ``source``'s stem unless ``run(job_name)`` names it.
        """
        try:
            text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"from_dict takes plain data (dict, list, str, number, bool, None): {exc}"
            ) from None
        name = source if source.lower().endswith(".json") else source + ".json"
        return cls(config_text=(name, text), **overrides)

    @classmethod
    def from_file(cls, path: str | os.PathLike, **overrides: object) -> UnifiedRuntimeSettings:
        """The config file at ``path`` (YAML, or JSON if it ends in ``.json``)."""
        return cls(config=os.fspath(path), **overrides)

    @classmethod
    def from_env(cls, **overrides: object) -> UnifiedRuntimeSettings:
        """The config that ``MDP_UNIFIED_CONFIG`` names, with every ``MDP_UNIFIED_*`` setting, read at run time."""
        return cls(**overrides)

    def flags(self, job_name: str | None = None) -> dict[str, object]:
        """The settings given in code, as ``compiler.settings.RunSettings.resolve`` takes flags
        (None: not given); ``job_name`` (the one ``run`` was given) wins over :attr:`job_name`."""
        return {
            "config": self.config,
            "mode": self.mode,
            "job_name": job_name or self.job_name,
            "metrics_port": self.metrics_port,
            "store_url": self.store_url,
            "log_level": self.log_level,
        }

    def texts(self, job_name: str | None = None) -> dict[str, str]:
        """The text of each setting given and of the in-memory config, keyed as diagnostics name them."""
        texts = setting_texts(self.flags(job_name))
        if self.config_text is not None:
            texts[self.config_text[0]] = self.config_text[1]
        return texts

    def expected_mode(self) -> RuntimeMode:
        """The mode a run would use, found without compiling: the ``mode`` given, else
        ``MDP_UNIFIED_MODE``, else the config's, else dag. A config that cannot be read (or an
        unknown mode) reads as dag here; running it reports the problem."""
        from .driver import read_config
        from .load.config import load_config

        chosen = self.mode or os.environ.get(env_name("mode")) or None
        if chosen is None:
            try:
                file, text = self.config_text or read_config(
                    self.config or os.environ.get(env_name("config"), "")
                )
                data = load_config(file, text).data
                chosen = data.get("mode") if isinstance(data, dict) else None
            except Exception:  # reported with its location when the job is compiled
                chosen = None
        try:
            return RuntimeMode(chosen or RuntimeMode.dag.value)
        except ValueError:
            return RuntimeMode.dag
