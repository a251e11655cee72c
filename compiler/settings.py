"""Run settings of ``mdp run``: command-line flags > ``MDP_UNIFIED_*`` environment > config file > defaults.

:class:`RunSettings` is a pydantic-settings model whose sources are, in that order, the flags
(init kwargs), the environment (``env_prefix="MDP_UNIFIED_"``) and :class:`ConfigFileSource`,
which reads the config file; a field no source sets keeps its default. Each setting is
resolved on its own, so an environment variable overrides one setting and nothing else.

``MDP_UNIFIED_DAG_JSON`` and ``MDP_UNIFIED_CLASSIC_JSON`` are kept as text here: they are
merged into the config's sections field by field by :mod:`compiler.overlay`, which keeps
their positions so that a mistake in them is reported at its line and column.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from .diagnostics import Diagnostic, DiagnosticError
from .driver import read_config
from .load.config import load_config
from .load.document import Span
from .suggest import did_you_mean

ENV_PREFIX = "MDP_UNIFIED_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# How a user writes each setting as a flag (the config path is the CONFIG argument).
FLAGS = {
    "config": "CONFIG",
    "mode": "--mode",
    "job_name": "--job-name",
    "metrics_port": "--metrics-port",
    "store_url": "--store-url",
    "log_level": "--log-level",
}


def env_name(field: str) -> str:
    """The environment variable of a setting: ``metrics_port`` -> ``MDP_UNIFIED_METRICS_PORT``."""
    return ENV_PREFIX + field.upper()


class ConfigFileSource(PydanticBaseSettingsSource):
    """The settings a config file holds: ``mode``, ``name`` (the job name), ``run.metrics_port``
    and ``run.log_level``.

    The file is the one the flags or the environment name. A value of the wrong type is left
    out here: compiling the config reports it at its line and column.
    """

    def __init__(
        self, settings_cls: type[BaseSettings], flags: dict, env: PydanticBaseSettingsSource
    ) -> None:
        super().__init__(settings_cls)
        self.flags = flags
        self.env = env

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Not used: :meth:`__call__` reads the whole file at once."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = self.flags.get("config") or self.env().get("config")
        if path is None:
            return {}
        data = load_config(*read_config(path)).data
        if not isinstance(data, dict):
            return {}
        run = data.get("run") if isinstance(data.get("run"), dict) else {}
        found = {
            "mode": data.get("mode"),
            "job_name": data.get("name"),
            "metrics_port": run.get("metrics_port"),
            "log_level": run.get("log_level"),
        }
        fits = {"mode": str, "job_name": str, "metrics_port": int, "log_level": str}
        return {k: v for k, v in found.items() if isinstance(v, fits[k]) and not isinstance(v, bool)}


class RunSettings(BaseSettings):
    """How ``mdp run`` runs a config; see the module docstring for where each value comes from."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", env_ignore_empty=True)

    config: Path | None = Field(None, description="the config file (YAML, or JSON if it ends in .json)")
    mode: str | None = Field(
        None, description="dag or classic: the section of the config to run (default dag)"
    )
    job_name: str | None = Field(None, description="the job's name (default: the config's name)")
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="serve Prometheus metrics on this port"
    )
    store_url: str | None = Field(None, description="the url of every sink.store node")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="logging level")
    dag_json: str | None = Field(None, description="a JSON object merged into the config's dag section")
    classic_json: str | None = Field(
        None, description="a JSON object merged into the config's classic section"
    )

    _origins: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        """Flags, then the environment, then the config file (no .env file, no secrets directory)."""
        return (
            init_settings,
            env_settings,
            ConfigFileSource(settings_cls, init_settings.init_kwargs, env_settings),
        )

    @classmethod
    def resolve(cls, **flags: object) -> RunSettings:
        """Resolve every setting from the flags given (None: not given), the environment and the file.

        Raises :class:`DiagnosticError` for an unknown ``MDP_UNIFIED_*`` variable and for a value
        of the wrong type, located in the flag's or the variable's text.
        """
        given = {name: value for name, value in flags.items() if value is not None}
        from_env = set(EnvSettingsSource(cls)())
        problems = _unknown_variables()
        origins = {name: "flag" if name in given else "env" for name in set(given) | from_env}
        try:
            settings = cls(**given)
        except ValidationError as exc:
            problems += [_setting_problem(entry, given) for entry in exc.errors(include_url=False)]
            raise DiagnosticError(problems) from None
        if problems:
            raise DiagnosticError(problems)
        settings._origins = origins
        return settings

    def origin(self, name: str) -> str:
        """Where a setting came from: ``flag``, ``env`` or ``file/default``."""
        return self._origins.get(name, "file/default")

    def given(self, name: str) -> bool:
        """Whether a flag or an environment variable set ``name`` (so it overrides the config)."""
        return name in self._origins

    def texts(self) -> dict[str, str]:
        """The text of each setting a flag or variable gave, keyed as :meth:`shown_as` names it."""
        return {self.shown_as(name): str(getattr(self, name)) for name in self._origins}

    def shown_as(self, name: str) -> str:
        """How diagnostics name the flag or variable a value came from: ``--mode``, ``$MDP_UNIFIED_MODE``."""
        return FLAGS[name] if self.origin(name) == "flag" else "$" + env_name(name)


def setting_texts(flags: dict[str, object]) -> dict[str, str]:
    """The text of each flag given and each ``MDP_UNIFIED_*`` variable, keyed as diagnostics name them.

    >>> setting_texts({"mode": "classic", "job_name": None})["--mode"]
    'classic'
    """
    texts = {FLAGS[name]: str(value) for name, value in flags.items() if value is not None}
    texts.update(
        {"$" + name: value for name, value in os.environ.items() if name.upper().startswith(ENV_PREFIX)}
    )
    return texts


def text_span(shown: str, text: str) -> Span:
    """The span of a whole one-line value given as a flag or a variable."""
    return Span(shown, 1, 1, 1, max(2, len(text) + 1))


def _setting_problem(entry: dict, given: dict) -> Diagnostic:
    name = str(entry["loc"][0]) if entry["loc"] else "settings"
    if name in given:
        shown, text = FLAGS.get(name, name), given[name]
    else:
        shown, text = "$" + env_name(name), os.environ.get(env_name(name), "")
    message = entry["msg"][:1].lower() + entry["msg"][1:]
    return Diagnostic(text_span(shown, str(text)), f"{name}: {message}")


def _unknown_variables() -> list[Diagnostic]:
    """An error for each ``MDP_UNIFIED_*`` variable that names no setting (a typo is not ignored)."""
    known = [env_name(name) for name in RunSettings.model_fields]
    found = []
    for variable in sorted(os.environ):
        if variable.upper().startswith(ENV_PREFIX) and variable.upper() not in known:
            hint = did_you_mean(variable.upper(), known) or "settings: " + ", ".join(known)
            found.append(
                Diagnostic(
                    text_span("$" + variable, os.environ[variable]), f"unknown setting {variable}", hint
                )
            )
    return found
