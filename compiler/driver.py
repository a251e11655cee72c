"""The compiler's stages end to end: load, build, validate, optimise, plan, emit."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from .build import build
from .classic import lower_classic
from .codegen.env_refs import check_references
from .diagnostics import Diagnostic, DiagnosticError
from .file_paths import check_file_paths
from .ir import Pipeline
from .load.config import load_config
from .load.document import Document, Span
from .optimize import PASSES, optimize
from .plan import Plan, plan
from .validate import validate


@dataclass(frozen=True)
class Compiled:
    """The result of compiling one config: the plan, the module text and any warnings, and the
    wall time in seconds each stage took (``load``, ``build``, ``validate``, ``optimise``,
    ``plan``, ``emit``, ``format``)."""

    plan: Plan
    source: str
    warnings: tuple[Diagnostic, ...]
    timings: dict[str, float] = field(default_factory=dict, compare=False)


def _timed(timings: dict[str, float] | None, stage: str, func: Callable, *args):
    """``func(*args)``, adding the wall time it took to ``timings[stage]`` (if ``timings``)."""
    start = time.perf_counter()
    try:
        return func(*args)
    finally:
        if timings is not None:
            timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - start


def display_path(path: str | Path) -> str:
    """The config path as written in headers and messages, independent of the machine.

    A relative path is kept as given (normalised, with forward slashes); an absolute path
    below the working directory is made relative to it.
    """
    path = Path(os.path.normpath(path))
    if path.is_absolute():
        try:
            path = path.relative_to(Path.cwd())
        except ValueError:
            pass
    return path.as_posix()


def read_config(path: str | Path) -> tuple[str, str]:
    """Read a config file; a missing or unreadable file is a diagnostic, not a traceback."""
    shown = display_path(path)
    try:
        return shown, Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise DiagnosticError(
            [Diagnostic(Span(shown, 1, 1, 1, 1), f"cannot read config: {reason}")]
        ) from None


def analyse(file: str, text: str) -> Pipeline:
    """Load, build and validate a config; raise :class:`DiagnosticError` with every problem."""
    return analyse_document(load_config(file, text))


def analyse_document(doc: Document, timings: dict[str, float] | None = None) -> Pipeline:
    """Build and validate a loaded config (a classic one is lowered to the DAG form first)."""
    pipeline, problems = _timed(timings, "build", _built, doc)
    pipeline, more = _timed(timings, "validate", validate, pipeline)
    problems += more
    if problems:
        raise DiagnosticError(problems)
    return pipeline


def _built(doc: Document) -> tuple[Pipeline, list[Diagnostic]]:
    mode = "classic" if isinstance(doc.data, dict) and doc.data.get("mode") == "classic" else "dag"
    doc, problems = lower_classic(doc)
    pipeline, more = build(doc, doc.file)
    pipeline = replace(pipeline, mode=mode)
    return pipeline, problems + more + check_references(pipeline) + check_file_paths(pipeline)


def compile_text(file: str, text: str, passes=PASSES) -> Compiled:
    """Compile config ``text`` (read from ``file``; ``.json`` is JSON, else YAML) into module source."""
    timings: dict[str, float] = {}
    return compile_document(_timed(timings, "load", load_config, file, text), passes, timings)


def plan_document(doc: Document, passes=PASSES, timings: dict[str, float] | None = None) -> Plan:
    """Check, optimise and plan a loaded config without generating code.

    Raise :class:`DiagnosticError` with every problem; the warnings are the plan's ``pipeline.warnings``.
    """
    optimised = _timed(timings, "optimise", optimize, analyse_document(doc, timings), passes)
    return _timed(timings, "plan", plan, optimised)


def plan_file(path: str | Path, passes=PASSES) -> Plan:
    """Check, optimise and plan the config at ``path`` without generating code."""
    file, text = read_config(path)
    return plan_document(load_config(file, text), passes)


def compile_document(doc: Document, passes=PASSES, timings: dict[str, float] | None = None) -> Compiled:
    """Compile a loaded config (possibly adjusted by run settings) into module source."""
    from .codegen.emit import finish, render  # black and jinja2 load only when a module is generated

    timings = {} if timings is None else timings
    the_plan = plan_document(doc, passes, timings)
    source = _timed(timings, "format", finish, _timed(timings, "emit", render, the_plan))
    return Compiled(the_plan, source, the_plan.pipeline.warnings, timings)


def compile_file(path: str | Path, passes=PASSES) -> Compiled:
    """Compile the config at ``path``."""
    return compile_text(*read_config(path), passes=passes)
