"""``UnifiedRuntime``: compile a config and run its job in the caller's event loop.

The job is compiled through the same cache as ``mdp run`` (:func:`compiler.job_prep.prepare_run`)
with the registry's components in force, then run by :class:`runtime_lib.embedded.EmbeddedJob`
as a task of the caller's loop: no signal handlers are installed and the process is never exited.
"""

from __future__ import annotations

import asyncio
import logging
from enum import Enum

from runtime_lib.embedded import EmbeddedJob, RunResult
from runtime_lib.job import options_with_defaults

from .api_registry import ComponentRegistry, default_registry
from .api_settings import ConfigError, RuntimeMode, UnifiedRuntimeSettings
from .components.plugins import registered
from .diagnostics import DiagnosticError, render_all
from .job_prep import PreparedRun, prepare_run

log = logging.getLogger("mdp.api")


class UnifiedRuntimeState(str, Enum):
    """Where a :class:`UnifiedRuntime` is: no job yet, a job running, the last job done or failed."""

    CREATED = "created"
    RUNNING = "running"
    STOPPED = "stopped"
    FAILED = "failed"


class UnifiedRuntime:
    """Runs the job of one config in the caller's event loop.

    ``async with UnifiedRuntime(settings) as rt: result = await rt.run("my-job")`` compiles the
    config (a mistake raises :class:`~compiler.api_settings.ConfigError`, and :attr:`state`
    becomes ``FAILED``), runs the job to its end and returns its
    :class:`~runtime_lib.embedded.RunResult`. ``await rt.start()`` starts the job and returns
    while it runs; ``await rt.stop()`` asks it to stop (sources stop, windows flush, sinks drain,
    as after SIGTERM) and waits for it. Leaving the ``async with`` block stops a running job.
    Node types registered in ``registry`` (default: :func:`~compiler.api_registry.default_registry`)
    are available to the config.
    """

    def __init__(
        self, settings: UnifiedRuntimeSettings | None = None, registry: ComponentRegistry | None = None
    ) -> None:
        self.settings = settings if settings is not None else UnifiedRuntimeSettings.from_env()
        self.registry = registry if registry is not None else default_registry()
        self._state = UnifiedRuntimeState.CREATED
        self._mode: RuntimeMode | None = None
        self._job: EmbeddedJob | None = None
        self._task: asyncio.Task | None = None
        self.result: RunResult | None = None  # how the last job ended

    @property
    def state(self) -> UnifiedRuntimeState:
        """``CREATED``, ``RUNNING`` (a job runs), ``STOPPED`` (it ended with status 0) or ``FAILED``."""
        return self._state

    @property
    def mode(self) -> RuntimeMode:
        """The mode of the job compiled last, or before that the mode the settings name."""
        return self._mode if self._mode is not None else self.settings.expected_mode()

    @property
    def job_name(self) -> str | None:
        """The name of the job compiled last, or None."""
        return self._job.job_name if self._job is not None else None

    def _prepare(self, job_name: str | None) -> PreparedRun:
        """Compile (through the run cache) and import the job, with the registry's types in force."""
        with registered(self.registry.components()):
            return prepare_run(
                self.settings.flags(job_name), self.settings.config_text, extra_key=self.registry.cache_key()
            )

    async def start(self, job_name: str | None = None) -> None:
        """Compile the config and start its job; return once it runs (:attr:`state` ``RUNNING``).

        ``job_name`` overrides the config's ``name`` (and ``MDP_UNIFIED_JOB_NAME``). Raises
        :class:`ConfigError` for a config mistake, and RuntimeError while a job is running.
        """
        if self._task is not None and not self._task.done():
            raise RuntimeError(f"job {self.job_name!r} is running: stop it or wait for it first")
        try:
            prepared = await asyncio.to_thread(self._prepare, job_name)  # compiling does not block the loop
        except DiagnosticError as exc:
            self._state = UnifiedRuntimeState.FAILED
            raise ConfigError(exc.diagnostics, self.settings.texts(job_name)) from None
        if prepared.compiled.warnings:
            log.warning("%s", render_all(list(prepared.compiled.warnings), self.settings.texts(job_name)))
        module, settings = prepared.module, prepared.settings
        self._mode = RuntimeMode(module.JOB_MODE)
        defaults = getattr(module, "RUN_DEFAULTS", None) or {}
        level = (
            settings.log_level
            if settings.given("log_level")
            else defaults.get("log_level", settings.log_level)
        )
        logging.getLogger("mdp").setLevel(level)
        options = options_with_defaults(
            defaults,
            self.settings.duration,
            self.settings.max_events,
            settings.metrics_port,
        )
        options.mode, options.config_path, options.config_sha256 = (
            module.JOB_MODE,
            module.CONFIG_PATH,
            module.CONFIG_SHA256,
        )
        self._job = EmbeddedJob(module.build, module.JOB_NAME, options)
        self.result = None
        self._task = asyncio.get_running_loop().create_task(
            self._job.execute(), name=f"mdp job {module.JOB_NAME}"
        )
        self._task.add_done_callback(self._ended)
        self._state = UnifiedRuntimeState.RUNNING
        await asyncio.sleep(0)  # let the job build and start its sources

    def _ended(self, task: asyncio.Task) -> None:
        if task.cancelled():
            self._state = UnifiedRuntimeState.STOPPED
            return
        if task.exception() is not None:
            self._state = UnifiedRuntimeState.FAILED
            return
        self.result = task.result()
        self._state = UnifiedRuntimeState.STOPPED if self.result.ok else UnifiedRuntimeState.FAILED

    async def wait(self) -> RunResult:
        """Wait for the running job to end; its :class:`RunResult` (cancelling this stops the job)."""
        if self._task is None:
            raise RuntimeError("no job was started: call start() or run() first")
        return await self._task

    async def run(self, job_name: str | None = None) -> RunResult:
        """Compile and run the job to its end (sources done, ``duration``, ``max_events`` or
        :meth:`stop`); return its :class:`RunResult`. A job error is a result with status 1 and
        :attr:`state` ``FAILED``; a config mistake raises :class:`ConfigError`."""
        await self.start(job_name)
        return await self.wait()

    async def stop(self) -> RunResult | None:
        """Ask a running job to stop, flushing and draining as after SIGTERM, and wait for it.

        Returns its :class:`RunResult` (None if no job ran). Without a job, :attr:`state`
        becomes ``STOPPED`` (a failed state stays).
        """
        if self._task is None:
            if self._state is UnifiedRuntimeState.CREATED:
                self._state = UnifiedRuntimeState.STOPPED
            return None
        if not self._task.done():
            self._job.request_stop()
        return await self.wait()

    async def __aenter__(self) -> UnifiedRuntime:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None and not self._task.done():
            await self.stop()
