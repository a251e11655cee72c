"""The ``mdp`` command line."""

from __future__ import annotations

import difflib
import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from runtime_lib.job import run as run_job
from runtime_lib.runner import RunOptions

from .cache import cached_module_path, import_module_file
from .diagnostics import Diagnostic, DiagnosticError, render_all
from .driver import Compiled, compile_file, read_config
from .explain import explain as explain_plan

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, help="Compile market-data pipelines into Python modules.")
GENERATED_DIR = Path("generated")
ConfigArg = Annotated[Path, typer.Argument(help="config file (YAML)", show_default=False)]


def _report(diagnostics: list[Diagnostic] | tuple[Diagnostic, ...]) -> None:
    sources = {}
    for diagnostic in diagnostics:
        file = diagnostic.span.file
        if file not in sources:
            try:
                sources[file] = Path(file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                sources[file] = ""
    if diagnostics:
        typer.echo(render_all(list(diagnostics), sources), err=True)


def _compile(config: Path) -> Compiled:
    """Compile or exit 1 with every diagnostic; warnings are printed and compilation goes on."""
    try:
        compiled = compile_file(config)
    except DiagnosticError as exc:
        _report(exc.diagnostics)
        raise typer.Exit(1) from None
    _report(compiled.warnings)
    return compiled


def default_output(compiled: Compiled) -> Path:
    """``generated/<job name>.py``."""
    return GENERATED_DIR / f"{compiled.plan.pipeline.name}.py"


@app.command("compile")
def compile_command(
    configs: Annotated[list[Path], typer.Argument(help="config files", show_default=False)],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="module to write (one config only)")] = None,
    check: Annotated[bool, typer.Option("--check", help="fail with a diff if a checked-in module is stale")] = False,
) -> None:
    """Compile configs into modules under generated/ (or -o), or --check that they are current."""
    if output is not None and (check or len(configs) != 1):
        raise typer.BadParameter("-o takes exactly one config and cannot be combined with --check")
    stale = 0
    for config in configs:
        compiled = _compile(config)
        target = output or default_output(compiled)
        if check:
            current = target.read_text(encoding="utf-8") if target.exists() else ""
            if current != compiled.source:
                stale += 1
                diff = difflib.unified_diff(current.splitlines(True), compiled.source.splitlines(True),
                                            str(target), f"{target} (from {config})")
                typer.echo("".join(diff), err=True)
                typer.echo(f"{target} is stale: run `mdp compile {config}`", err=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(compiled.source, encoding="utf-8")
        typer.echo(f"wrote {target}")
    if stale:
        raise typer.Exit(1)


@app.command()
def validate(configs: Annotated[list[Path], typer.Argument(help="config files", show_default=False)]) -> None:
    """Check configs and report every problem, without writing anything."""
    failed = 0
    for config in configs:
        try:
            _compile(config)
            typer.echo(f"{config}: ok")
        except typer.Exit:
            failed += 1
    if failed:
        raise typer.Exit(1)


@app.command()
def explain(config: ConfigArg) -> None:
    """Show the optimised plan: segments, what was fused, and why each boundary remains."""
    typer.echo(explain_plan(_compile(config).plan))


@app.command()
def run(
    config: ConfigArg,
    duration: Annotated[Optional[float], typer.Option(help="stop after this many seconds")] = None,
    max_events: Annotated[Optional[int], typer.Option(help="stop after this many source events")] = None,
    metrics_port: Annotated[Optional[int], typer.Option(help="serve Prometheus metrics on 127.0.0.1:PORT")] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR")] = "INFO",
) -> None:
    """Compile (cached by config content and mdp version) and run the job, then print a summary."""
    compiled = _compile(config)
    shown, text = read_config(config)
    module_path = cached_module_path(compiled.plan.pipeline.name, shown, text)
    if not module_path.exists():
        module_path.parent.mkdir(parents=True, exist_ok=True)
        module_path.write_text(compiled.source, encoding="utf-8")
    module = import_module_file(module_path)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = RunOptions(duration=duration, max_events=max_events, metrics_port=metrics_port)
    raise typer.Exit(run_job(module.build, module.JOB_NAME, options))


def main() -> None:
    """Console entry point."""
    app(prog_name="mdp")


if __name__ == "__main__":
    sys.exit(main())
