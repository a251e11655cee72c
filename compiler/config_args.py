"""How commands take their config: a positional path, or ``--config FILE`` / ``-c FILE`` as the
older system's runbooks write it (``mdp run --config configs/dag/bars.yaml``); never both."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="the config file (instead of the CONFIG argument)", show_default=False
    ),
]
ConfigsOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--config", "-c", help="a config file (instead of CONFIGS; may be repeated)", show_default=False
    ),
]
OptionalConfigs = Annotated[
    list[Path] | None,
    typer.Argument(metavar="CONFIGS", help="config files (or --config)", show_default=False),
]
OptionalConfig = Annotated[
    Path | None,
    typer.Argument(
        metavar="CONFIG",
        help="config file (YAML, or JSON if it ends in .json), or --config",
        show_default=False,
    ),
]

# click's "Missing argument" error, from the click typer uses (typer may carry its own copy).
MissingParameter = sys.modules[typer.BadParameter.__module__].MissingParameter
BOTH = "give the config either as an argument or with --config, not both"


def one_config(positional: Path | None, option: Path | None, required: bool = True) -> Path | None:
    """The config a command runs on; a usage error (exit 2) when both or (if ``required``) neither
    is given."""
    if positional is not None and option is not None:
        raise typer.BadParameter(BOTH, param_hint="'--config'")
    chosen = positional if positional is not None else option
    if chosen is None and required:
        raise MissingParameter(
            "Give a config file, or --config FILE", param_hint="'CONFIG'", param_type="argument"
        )
    return chosen


def all_configs(positional: list[Path] | None, options: list[Path] | None) -> list[Path]:
    """The configs a command runs on: the arguments or the ``--config`` options, at least one."""
    if positional and options:
        raise typer.BadParameter(BOTH, param_hint="'--config'")
    chosen = list(positional or options or [])
    if not chosen:
        raise MissingParameter(
            "Give at least one config file, or --config FILE",
            param_hint="'CONFIGS'",
            param_type="argument",
        )
    return chosen
