"""The Python API: run a config's job from your own asyncio program, as the older system's users did.

    from compiler.api import UnifiedRuntime, UnifiedRuntimeSettings, default_registry

    default_registry().register_operator("operator.custom.filter", my_filter)
    settings = UnifiedRuntimeSettings.from_file("configs/dag/bars.yaml")
    async with UnifiedRuntime(settings) as rt:
        result = await rt.run("my-job")

Settings resolve as for ``mdp run`` (:mod:`.api_settings`), custom node types come from a
:class:`ComponentRegistry` (:mod:`.api_registry`), and the job runs in the caller's event loop
(:mod:`.api_runtime`).
"""

from __future__ import annotations

from runtime_lib.embedded import RunResult

from .api_registry import ComponentRegistry, RegistrationError, default_registry
from .api_runtime import UnifiedRuntime, UnifiedRuntimeState
from .api_settings import ConfigError, RuntimeMode, UnifiedRuntimeSettings

registry = default_registry()
"""The process-wide registry (the same object :func:`default_registry` returns)."""

__all__ = [
    "ComponentRegistry",
    "ConfigError",
    "RegistrationError",
    "RunResult",
    "RuntimeMode",
    "UnifiedRuntime",
    "UnifiedRuntimeSettings",
    "UnifiedRuntimeState",
    "default_registry",
    "registry",
]
