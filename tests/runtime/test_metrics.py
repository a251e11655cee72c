"""Prometheus metrics of a running job, scraped over HTTP on 127.0.0.1 and parsed."""

from __future__ import annotations

import subprocess
import threading
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from runtime_lib.job import run as run_job
from runtime_lib.runner import RunOptions
from tests.support.compiled_module import load_compiled
from tests.support.jobs import (
    PYTHON,
    TIMEOUT_S,
    compile_config,
    free_port,
    job_env,
    parse_summary,
    port_open,
    stop,
    synthetic_config,
    wait_for,
)

NODES = """\
    - id: big
      type: operator.filter
      params: {where: "size >= 100"}
    - id: out
      type: sink.null"""
EDGES = """\
    - [ticks, big]
    - [big, out]"""
TYPES = {"ticks": "provider.synthetic", "big": "operator.filter", "out": "sink.null"}


def scrape(port: int) -> dict[str, dict[tuple, float]]:
    """Metric samples by sample name, then by sorted label items."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        text = response.read().decode("utf-8")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def node_labels(node: str) -> tuple:
    return tuple(sorted({"job": "metered", "node": node, "type": TYPES[node]}.items()))


def test_metrics_are_served_while_the_job_runs(tmp_path):
    config = tmp_path / "metered.yaml"
    config.write_text(synthetic_config("metered", rate=500, nodes=NODES, edges=EDGES))
    module = compile_config(config, tmp_path / "metered.py")
    port = free_port()
    process = subprocess.Popen(
        [PYTHON, str(module), "--metrics-port", str(port), "--duration", "2"],
        cwd=tmp_path,
        env=job_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        scraped = {}

        def source_counted() -> bool:
            try:
                scraped.update(scrape(port))
            except OSError:  # not listening yet
                return False
            return scraped.get("mdp_node_events_out_total", {}).get(node_labels("ticks"), 0) >= 200

        wait_for(source_counted, 10, "a scrape with 200 source events", process)
        for name in ("events_in", "events_out", "late", "dropped", "errors"):
            family = scraped[f"mdp_node_{name}_total"]
            assert set(family) == {node_labels(node) for node in TYPES}, name
        assert scraped["mdp_node_events_out_total"][node_labels("ticks")] > 0
        assert scraped["mdp_node_events_in_total"][node_labels("big")] > 0
        assert scraped["mdp_node_dropped_total"][node_labels("big")] > 0  # odd lots filtered out
        assert set(scraped["mdp_sink_rows_written_total"]) == {(("job", "metered"), ("node", "out"))}
        assert scraped["mdp_job_up"] == {(("job", "metered"),): 1.0}

        out, err = process.communicate(timeout=TIMEOUT_S)
    finally:
        stop(process)
    assert process.returncode == 0, err
    summary = parse_summary(err)
    assert summary.nodes["ticks"]["out"] >= scraped["mdp_node_events_out_total"][node_labels("ticks")]
    assert not port_open(port), "the metrics server outlived the job"


def _scrape_in_background(port: int, results: list, done: threading.Event) -> threading.Thread:
    def loop() -> None:
        while not done.is_set():
            try:
                results.append(scrape(port))
            except OSError:  # not listening yet, or the run is shutting its server down
                pass
            done.wait(0.05)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def test_run_stops_its_metrics_server_when_it_returns():
    module = load_compiled(synthetic_config("metered", rate=1000, nodes=NODES, edges=EDGES))
    port = free_port()
    scrapes: list = []
    done = threading.Event()
    thread = _scrape_in_background(port, scrapes, done)
    try:
        status = run_job(
            module.build, module.JOB_NAME, RunOptions(duration=0.8, metrics_port=port), quiet=True
        )
    finally:
        done.set()
        thread.join(timeout=5)
    assert status == 0
    assert scrapes, "no scrape succeeded during the run"
    assert not port_open(port)


def test_a_failing_job_stops_its_metrics_server_too(tmp_path):
    module = load_compiled(f"""
name: broken
dag:
  nodes:
    - {{id: ticks, type: provider.replay, params: {{path: "{tmp_path / 'missing.csv'}"}}}}
    - {{id: out, type: sink.null}}
  edges:
    - [ticks, out]
""")
    port = free_port()
    status = run_job(module.build, module.JOB_NAME, RunOptions(metrics_port=port), quiet=True)
    assert status == 1
    assert not port_open(port)
