"""The compiler's stages end to end: load, build, validate, optimise, plan, emit."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .build import build
from .classic import lower_classic
from .codegen.emit import emit
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
    """The result of compiling one config: the plan, the module text and any warnings."""

    plan: Plan
    source: str
    warnings: tuple[Diagnostic, ...]


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


def analyse_document(doc: Document) -> Pipeline:
    """Build and validate a loaded config (a classic one is lowered to the DAG form first)."""
    doc, problems = lower_classic(doc)
    pipeline, more = build(doc, doc.file)
    problems += more + check_references(pipeline) + check_file_paths(pipeline)
    pipeline, more = validate(pipeline)
    problems += more
    if problems:
        raise DiagnosticError(problems)
    return pipeline


def compile_text(file: str, text: str, passes=PASSES) -> Compiled:
    """Compile config ``text`` (read from ``file``; ``.json`` is JSON, else YAML) into module source."""
    return compile_document(load_config(file, text), passes)


def compile_document(doc: Document, passes=PASSES) -> Compiled:
    """Compile a loaded config (possibly adjusted by run settings) into module source."""
    optimised = optimize(analyse_document(doc), passes)
    the_plan = plan(optimised)
    return Compiled(the_plan, emit(the_plan), optimised.warnings)


def compile_file(path: str | Path, passes=PASSES) -> Compiled:
    """Compile the config at ``path``."""
    return compile_text(*read_config(path), passes=passes)
