"""The Grafana dashboard in monitoring/ is a sound model, and every panel's query returns data
from a real Prometheus that scrapes a real running job."""

from __future__ import annotations

import json
import math
import re
import subprocess
import urllib.request
from dataclasses import dataclass

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.jobs import MDP, REPO, free_port, job_env, port_open, stop, wait_for
from tests.support.prometheus import Prometheus, prometheus_binary, running_prometheus

DASHBOARD = REPO / "monitoring" / "grafana-dashboard.json"
JOB = "monitored"
SCRAPES_BEFORE_QUERYING = 5
VARIABLES = {"job": JOB, "__rate_interval": "10s", "__interval": "2s", "__range": "1m"}

# Two sources into one resample: the paced synthetic feed, and a tiny replay whose second row
# has a naive timestamp, so that the set-aside panel has a series to show.
CONFIG = f"""\
name: {JOB}
mode: dag
dag:
  nodes:
    - id: ticks
      type: provider.synthetic
      params: {{symbols: [AAPL, MSFT], rate: 500}}
    - id: suspect
      type: provider.replay
      params: {{path: suspect.csv}}
    - id: bars
      type: operator.resample_ohlc
      params: {{window: 1s}}
    - id: store
      type: sink.store
      params: {{url: "sqlite:///bars.db"}}
  edges:
    - [ticks, bars]
    - [suspect, bars]
    - [bars, store]
"""
SUSPECT_CSV = """\
symbol,ts,price,size
ZZZ,2024-01-02T09:30:00-05:00,10.5,100
ZZZ,2024-01-02T09:30:01,10.6,100
"""

_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"\b([A-Za-z_:][A-Za-z0-9_:]*)\b(\s*\()?")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "group_left", "group_right", "inf", "nan"}
_RANGED_CALL = re.compile(r"\b(rate|irate|increase)\(\s*[A-Za-z_:][\w:]*(?:\{[^}]*\})?\[([^\]]*)\]")


def load_dashboard() -> dict:
    """The dashboard's JSON model."""
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def panel_targets() -> list[tuple[str, dict]]:
    """Every query target of every panel, with a readable id (panel title and refId)."""
    return [
        (f"{panel['title']} [{target['refId']}]", target)
        for panel in load_dashboard()["panels"]
        for target in panel.get("targets", [])
    ]


TARGETS = panel_targets()


def expand(expr: str) -> str:
    """``expr`` with Grafana's variables replaced as Grafana would for the test's job."""

    def value(match: re.Match) -> str:
        name = match[1] or match[2]
        assert name in VARIABLES, f"query uses ${name}, which the test does not know: {expr}"
        return VARIABLES[name]

    return _VARIABLE.sub(value, expr)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (function names and label names excluded)."""
    bare = _GROUPING.sub(" ", _RANGE.sub(" ", _MATCHERS.sub(" ", _STRING.sub(" ", expr))))
    return {
        match[1]
        for match in _IDENTIFIER.finditer(bare)
        if not match[2] and match[1] not in _KEYWORDS  # a name followed by "(" is a function
    }


def selectors(expr: str, metric: str) -> list[str]:
    """The label matchers (``{...}``, or "" when there are none) of each use of ``metric``."""
    return [m[1] or "" for m in re.finditer(rf"\b{re.escape(metric)}\b(\{{[^}}]*\}})?", expr)]


def test_dashboard_is_a_grafana_model_with_the_two_variables():
    dashboard = load_dashboard()
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard["uid"] and dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    job = variables["job"]
    assert job["type"] == "query" and job["multi"] and job["includeAll"]
    assert job["definition"] == job["query"]["query"] == "label_values(mdp_job_up, job)"
    assert job["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_every_panel_has_a_unique_id_a_place_and_targets_on_the_chosen_datasource():
    panels = load_dashboard()["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {sorted(ids)}"
    for panel in panels:
        name = panel["title"]
        assert panel["type"] in ("timeseries", "stat"), name
        place = panel["gridPos"]
        assert place["w"] > 0 and place["h"] > 0 and place["x"] + place["w"] <= 24, name
        assert panel["targets"], f"panel {name!r} has no query"
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), f"panel {name!r} repeats a refId"
        for target in [panel, *panel["targets"]]:
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, name
        assert all(target["expr"].strip() for target in panel["targets"]), name


@pytest.mark.parametrize("target", [target for _, target in TARGETS], ids=[name for name, _ in TARGETS])
def test_rates_use_the_rate_interval(target):
    for function, window in _RANGED_CALL.findall(target["expr"]):
        assert window == "$__rate_interval", f"{function}() over [{window}]: {target['expr']}"


@dataclass
class ScrapedJob:
    """A running job, the Prometheus that scrapes it, and the samples its /metrics serves."""

    prometheus: Prometheus
    samples: dict[str, list[dict[str, str]]]  # sample name -> the label sets it is served with


def _metrics_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        return response.read().decode("utf-8")


def _samples(text: str) -> dict[str, list[dict[str, str]]]:
    samples: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(dict(sample.labels))
    return samples


def _wait_for_scrapes(prometheus: Prometheus, process: subprocess.Popen) -> None:
    query = f'count_over_time(mdp_job_up{{job="{JOB}"}}[1m])'

    def scraped_enough() -> bool:
        result = prometheus.query(query)
        return bool(result) and float(result[0]["value"][1]) >= SCRAPES_BEFORE_QUERYING

    try:
        wait_for(scraped_enough, 20, f"{SCRAPES_BEFORE_QUERYING} scrapes of the job", process)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- prometheus log\n{prometheus.log_tail()}") from None


def _stop_job(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()  # SIGTERM: the job drains and exits 0
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            stop(process)


@pytest.fixture(scope="module")
def scraped_job(tmp_path_factory) -> ScrapedJob:
    """``mdp run`` on a small endless job with ``--metrics-port``, scraped by Prometheus every second."""
    prometheus_binary()  # skip or fail before starting the job
    workdir = tmp_path_factory.mktemp("monitored")
    (workdir / "monitored.yaml").write_text(CONFIG, encoding="utf-8")
    (workdir / "suspect.csv").write_text(SUSPECT_CSV, encoding="utf-8")
    port = free_port()
    job_log = workdir / "job.log"
    with job_log.open("wb") as log:
        process = subprocess.Popen(
            [MDP, "run", "monitored.yaml", "--metrics-port", str(port), "--duration", "120"],
            cwd=workdir,
            env=job_env(workdir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        try:
            wait_for(lambda: port_open(port), 30, "the job's metrics server", process)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- job log\n{job_log.read_text(errors='replace')}") from None
        with running_prometheus(port, workdir / "prometheus") as prometheus:
            _wait_for_scrapes(prometheus, process)
            yield ScrapedJob(prometheus, _samples(_metrics_text(port)))
    finally:
        _stop_job(process)


@pytest.mark.parametrize("target", [target for _, target in TARGETS], ids=[name for name, _ in TARGETS])
def test_panel_query_returns_data(scraped_job, target):
    query = expand(target["expr"])
    result = scraped_job.prometheus.query(query)
    assert result, f"no series for {query}"
    values = [float(series["value"][1]) for series in result]
    assert any(math.isfinite(v) for v in values), f"only {values} for {query}"


def test_queries_use_only_exported_metrics_and_filter_them_by_job(scraped_job):
    exported = scraped_job.samples
    for name, target in TARGETS:
        used = metric_names(target["expr"])
        assert used, f"{name}: no metric found in {target['expr']}"
        for metric in used:
            assert metric in exported, f"{name}: {metric} is not served by the job ({sorted(exported)})"
            if any("job" in labels for labels in exported[metric]):
                for matchers in selectors(target["expr"], metric):
                    assert 'job=~"$job"' in matchers, f"{name}: {metric} is not filtered by $job"


def test_runtime_up_has_a_series_for_each_mode(scraped_job):
    served = {labels["mode"] for labels in scraped_job.samples.get("runtime_up", [])}
    assert {"dag", "classic"} <= served, f"runtime_up modes served: {sorted(served)}"
    result = scraped_job.prometheus.query('runtime_up{mode="dag"}')
    assert [float(series["value"][1]) for series in result] == [1.0]
