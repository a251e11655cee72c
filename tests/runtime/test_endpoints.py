"""A running job's HTTP endpoints: /healthz and /readyz as JSON, /metrics with the older system's
gauges and the sink, lag and info series, 404 and 405 for the rest; and readiness itself."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from runtime_lib import __version__
from runtime_lib.readiness import not_ready_reasons
from runtime_lib.runner import LiveContext
from runtime_lib.sinks.null import NullSink
from tests.support.jobs import MDP, TIMEOUT_S, free_port, job_env, port_open, stop, synthetic_config, wait_for

NODES = """\
    - id: bars
      type: operator.resample_ohlc
      params: {window: 1s}
    - id: store
      type: sink.store
      params: {url: "sqlite:///bars.db"}"""
EDGES = """\
    - [ticks, bars]
    - [bars, store]"""


def get(port: int, path: str, method: str = "GET") -> tuple[int, str, str]:
    """Status, content type and body of one request to the job's endpoint."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def samples(text: str) -> dict[str, list[tuple[dict, float]]]:
    """Metric samples by name: (labels, value)."""
    found: dict[str, list[tuple[dict, float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


@pytest.fixture(scope="module")
def running_job(tmp_path_factory):
    """``mdp run`` of an endless synthetic job with a metrics port, stopped after the module's tests."""
    folder = tmp_path_factory.mktemp("endpoints")
    config = folder / "served.yaml"
    config.write_text(synthetic_config("served", rate=400, nodes=NODES, edges=EDGES))
    port = free_port()
    process = subprocess.Popen(
        [MDP, "run", "served.yaml", "--metrics-port", str(port), "--duration", "60"],
        cwd=folder,
        env=job_env(folder),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: port_open(port), TIMEOUT_S, "the metrics port", process)
        yield port, hashlib.sha256(config.read_bytes()).hexdigest()
    finally:
        stop(process)


def test_healthz_answers_json_while_the_job_runs(running_job):
    port, _sha = running_job
    status, content_type, body = get(port, "/healthz")
    assert (status, content_type) == (200, "application/json")
    health = json.loads(body)
    assert health["status"] == "ok" and health["job"] == "served" and health["mode"] == "dag"
    assert health["pid"] > 0 and health["uptime_s"] >= 0


def test_readyz_is_200_once_the_sources_run(running_job):
    port, _sha = running_job
    ready = {}

    def answered_ready() -> bool:
        status, _type, body = get(port, "/readyz")
        ready.update(json.loads(body), status=status)
        return status == 200

    wait_for(answered_ready, 10, "/readyz to answer 200")
    assert ready["ready"] is True and ready["reasons"] == []


@pytest.mark.parametrize("path", ["/", "/health", "/metricsx", "/readyz/extra", "/../etc/passwd"])
def test_unknown_paths_are_404_with_the_known_ones_named(running_job, path):
    status, content_type, body = get(running_job[0], path)
    assert (status, content_type) == (404, "application/json")
    assert json.loads(body)["paths"] == ["/metrics", "/healthz", "/readyz"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_other_methods_are_405(running_job, method):
    status, _type, body = get(running_job[0], "/metrics", method)
    assert status == 405 and json.loads(body)["allowed"] == ["GET", "HEAD"]


def test_metrics_has_the_older_gauges_for_both_modes_and_the_new_series(running_job):
    port, sha = running_job

    def sink_has_written() -> bool:
        found = samples(get(port, "/metrics")[2])
        return any(value > 0 for _labels, value in found.get("mdp_sink_write_seconds_count", []))

    wait_for(sink_has_written, 15, "a timed sink write")
    status, content_type, body = get(port, "/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    found = samples(body)
    assert sorted((labels["mode"], value) for labels, value in found["runtime_up"]) == [
        ("classic", 0.0),
        ("dag", 1.0),
    ]
    assert sorted((labels["mode"], value) for labels, value in found["runtime_jobs_running"]) == [
        ("classic", 0.0),
        ("dag", 1.0),
    ]
    assert found["mdp_job_info"] == [
        ({"job": "served", "config_sha256": sha, "mdp_version": __version__}, 1.0)
    ]
    assert [labels for labels, _value in found["mdp_sink_queue_depth"]] == [
        {"job": "served", "node": "store"}
    ]
    buckets = [value for labels, value in found["mdp_sink_write_seconds_bucket"]]
    assert buckets == sorted(buckets) and buckets[-1] == found["mdp_sink_write_seconds_count"][0][1]
    [(labels, lag)] = found["mdp_event_time_lag_seconds"]
    assert labels == {"job": "served", "node": "ticks"} and lag > 0
    assert found["mdp_source_reconnects_total"] == [({"job": "served", "node": "ticks"}, 0.0)]


def test_a_metrics_port_in_use_is_a_clear_error_not_a_traceback(running_job, tmp_path):
    config = tmp_path / "second.yaml"
    config.write_text(synthetic_config("second", rate=100, nodes=NODES, edges=EDGES))
    result = subprocess.run(
        [MDP, "run", "second.yaml", "--metrics-port", str(running_job[0]), "--duration", "5"],
        cwd=tmp_path,
        env=job_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert result.returncode == 1
    assert f"error: cannot serve metrics on 127.0.0.1:{running_job[0]}: " in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "bars.db").exists(), "the sink was opened although the job could not start"


def context_with_a_sink() -> LiveContext:
    """A built context with one null sink (a real worker), as the run leaves it."""
    ctx = LiveContext()
    ctx.sink("out", "sink.null", NullSink)
    return ctx


def test_a_job_is_not_ready_before_it_runs_and_once_it_stops():
    ctx = context_with_a_sink()
    assert not_ready_reasons(ctx) == ["the job is starting"]
    ctx.phase = "running"
    assert not_ready_reasons(ctx) == []
    ctx.phase = "stopping"
    assert not_ready_reasons(ctx) == ["the job is stopping"]


def test_a_sink_write_that_does_not_return_makes_the_job_not_ready():
    ctx = context_with_a_sink()
    ctx.phase = "running"
    ctx.workers["out"].write_started = time.monotonic() - 45
    [reason] = not_ready_reasons(ctx, stuck_write_s=30)
    assert reason.startswith("sink 'out': a write has not returned after 4")
    assert not_ready_reasons(ctx, stuck_write_s=60) == []
