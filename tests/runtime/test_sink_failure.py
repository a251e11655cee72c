"""A sink that fails stops the job with its error, even while an endless source is running."""

from __future__ import annotations

import subprocess

from tests.support.jobs import PYTHON, compile_config, job_env, synthetic_config


def test_failing_store_stops_an_endless_job_with_exit_1(tmp_path):
    (tmp_path / "taken").write_text("a file where the store wants a folder")
    config = tmp_path / "doomed.yaml"
    config.write_text(
        synthetic_config(
            "doomed",
            rate=0,
            nodes="""\
    - id: bars
      type: operator.resample_ohlc
      params: {window: 1ms}
    - id: store
      type: sink.store
      params: {url: "sqlite:///taken/bars.db"}""",
            edges="""\
    - [ticks, bars]
    - [bars, store]""",
        )
    )
    module = compile_config(config, tmp_path / "doomed.py")
    # Before the fix the sources waited for room in the dead writer's queue until a signal.
    result = subprocess.run(
        [PYTHON, str(module)], cwd=tmp_path, env=job_env(tmp_path), capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 1, result.stderr
    assert "error: " in result.stderr and "cannot open SQLite database" in result.stderr
    assert "Traceback" not in result.stderr
    assert "finished in" not in result.stderr  # no summary claiming success
