"""From run settings to an imported job module: what ``mdp run`` and the Python API share.

The settings resolve as ``mdp run`` documents them (flag > ``MDP_UNIFIED_*`` > config file >
default), the config is compiled with them applied, and the module is written to the run cache
(keyed by the config's text, its path, what the settings changed and mdp's own code) and
imported from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from .cache import cached_module_path, import_module_file
from .diagnostics import Diagnostic, DiagnosticError
from .driver import Compiled, compile_document
from .load.config import load_config
from .load.document import Span
from .overlay import Overlaid, apply_settings, load_with_settings
from .settings import RunSettings, setting_texts


@dataclass(frozen=True)
class PreparedRun:
    """A compiled, cached and imported job, with the settings it was compiled under.

    ``texts`` holds the text of each flag and ``MDP_UNIFIED_*`` variable, for diagnostics that
    point into them; ``module_path`` is the cached module's file.
    """

    module: ModuleType
    settings: RunSettings
    texts: dict[str, str]
    compiled: Compiled
    module_path: str


def prepare_run(
    flags: dict[str, object], config_text: tuple[str, str] | None = None, extra_key: str = ""
) -> PreparedRun:
    """Resolve the settings from ``flags`` (None: not given), compile the config and import it.

    ``config_text`` is ``(display name, text)`` of a config held in memory (the Python API's
    ``from_dict``), used instead of a file; ``extra_key`` is anything else the module depends
    on (the API's registered components). Raises :class:`~compiler.diagnostics.DiagnosticError`
    with every problem; its warnings are the compiled plan's.
    """
    settings = RunSettings.resolve(**flags)
    if config_text is None:
        if settings.config is None:
            missing = "no config: give a config file, or set MDP_UNIFIED_CONFIG"
            raise DiagnosticError([Diagnostic(Span("CONFIG", 1, 1, 1, 2), missing)])
        overlaid = load_with_settings(settings)
    else:
        file, text = config_text
        doc, applied = apply_settings(load_config(file, text), settings)
        overlaid = Overlaid(file, text, doc, applied)
    compiled = compile_document(overlaid.doc)
    key_text = overlaid.text + ("\0" + overlaid.fingerprint() if overlaid.applied else "")
    if extra_key:
        key_text += "\0" + extra_key
    module_path = cached_module_path(compiled.plan.pipeline.name, overlaid.file, key_text)
    # Rewrite a cached module that differs from this compile (written by another build of mdp).
    if not module_path.exists() or module_path.read_text(encoding="utf-8") != compiled.source:
        module_path.parent.mkdir(parents=True, exist_ok=True)
        module_path.write_text(compiled.source, encoding="utf-8")
    module = import_module_file(module_path)
    return PreparedRun(module, settings, setting_texts(flags), compiled, str(module_path))
