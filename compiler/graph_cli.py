"""``mdp graph CONFIG --format dot|mermaid|svg [--optimised] [-o FILE]``: draw the DAG."""

from __future__ import annotations

import shutil
import subprocess
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .config_args import ConfigOption, OptionalConfig, one_config

if TYPE_CHECKING:
    from .ir import Pipeline

DOT_TIMEOUT_S = 60
NO_GRAPHVIZ = (
    "error: --format svg needs Graphviz's `dot` command, which is not on PATH; install graphviz "
    "(apt-get install graphviz, brew install graphviz) or use --format dot or mermaid"
)


class GraphFormat(str, Enum):
    """Output formats of ``mdp graph``."""

    dot = "dot"
    mermaid = "mermaid"
    svg = "svg"


def svg_from_dot(dot_text: str) -> bytes:
    """Lay out DOT text with Graphviz; raise RuntimeError when ``dot`` is missing or fails."""
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError(NO_GRAPHVIZ)
    try:
        result = subprocess.run(
            [dot, "-Tsvg"], input=dot_text.encode("utf-8"), capture_output=True, timeout=DOT_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"error: running {dot} failed: {exc}") from None
    if result.returncode != 0:
        raise RuntimeError(
            f"error: dot exited {result.returncode}: {result.stderr.decode(errors='replace').strip()}"
        )
    return result.stdout


def _pipeline(config: Path, optimised: bool) -> Pipeline:
    """The checked pipeline, optimised or not; exit 1 with every diagnostic if the config is wrong."""
    from .diagnostics import DiagnosticError, report
    from .driver import analyse, read_config
    from .optimize import optimize

    try:
        pipeline = analyse(*read_config(config))
    except DiagnosticError as exc:
        report(exc.diagnostics)
        raise typer.Exit(1) from None
    if not optimised:
        return pipeline
    pipeline = optimize(pipeline)
    report(pipeline.warnings)
    return pipeline


def graph_command(
    config: OptionalConfig = None,
    config_option: ConfigOption = None,
    format: Annotated[
        GraphFormat, typer.Option("--format", "-f", help="dot, mermaid or svg (needs Graphviz)")
    ] = (GraphFormat.dot),
    optimised: Annotated[
        bool,
        typer.Option(
            "--optimised", "--optimized", help="draw the graph after optimisation (fused chains as one node)"
        ),
    ] = False,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="file to write (default: stdout)")
    ] = None,
) -> None:
    """Draw the pipeline's DAG (before optimisation, or after it with --optimised)."""
    from .graph_render import RENDERERS, render_dot

    pipeline = _pipeline(one_config(config, config_option), optimised)
    if format is GraphFormat.svg:
        try:
            data = svg_from_dot(render_dot(pipeline, optimised))
        except RuntimeError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
    else:
        data = RENDERERS[format.value](pipeline, optimised).encode("utf-8")
    if output is None:
        typer.echo(data.decode("utf-8"), nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(data)
    typer.echo(f"wrote {output}")
