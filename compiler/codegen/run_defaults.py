"""The generated module's ``RUN_DEFAULTS``: the run options that the config's ``run`` section sets."""

from __future__ import annotations

from runtime_lib.timeutil import NS_PER_SECOND

from ..spec import RunSpec


def run_defaults(run: RunSpec | None) -> dict:
    """Only the options the config sets, keys sorted (so a config without them emits nothing).

    ``duration`` is in seconds, as ``--duration`` takes it.

    >>> run_defaults(RunSpec(duration="1500ms", labels={"tenant_id": "demo"}))
    {'duration': 1.5, 'labels': {'tenant_id': 'demo'}}
    >>> run_defaults(None)
    {}
    """
    if run is None:
        return {}
    found = {
        "duration": run.duration / NS_PER_SECOND if run.duration is not None else None,
        "labels": dict(sorted(run.labels.items())) or None,
        "log_level": run.log_level,
        "metrics_port": run.metrics_port,
        "checkpoint": (
            None
            if run.checkpoint is None
            else {"every": run.checkpoint.every / NS_PER_SECOND, "dir": run.checkpoint.dir}
        ),
        "on_stop": run.on_stop,
        "engine": run.engine,
        "shards": run.shards,
    }
    return {name: value for name, value in sorted(found.items()) if value is not None}
