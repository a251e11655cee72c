"""A job on Ray shards is recorded and served like one process: ``mdp status`` shows the summed
counters and each shard's, ``/metrics`` the sums, and ``/readyz`` answers 503 naming a shard that
stops answering (its process stopped), then 200 again once it answers."""

from __future__ import annotations

import json
import os
import signal
import urllib.error
import urllib.request

import pytest

from tests.ray.cluster import running_ray, shard_workers
from tests.streams.jobs import dag, start_job, write_config
from tests.support.jobs import MDP, TIMEOUT_S, free_port, job_env, run, stop, wait_for

ENDLESS = ("ticks", "provider.synthetic", "{symbols: [A, B, C, D, E, F], seed: 3, rate: 0}")
NODES = [
    ENDLESS,
    ("bars", "operator.resample_ohlc", "{window: 1s}"),
    ("store", "sink.store", "{url: 'sqlite:///bars.db'}"),
]


@pytest.fixture(scope="module")
def cluster():
    with running_ray() as address:
        yield address


def readyz(port: int) -> tuple[int, dict]:
    """The status and JSON body of ``/readyz``."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as answer:
        return answer.code, json.loads(answer.read())
    except OSError:  # not serving yet
        return 0, {}


def status(folder) -> dict:
    """``mdp status --json`` of the job."""
    return json.loads(run([MDP, "status", "--job", "endless", "--json"], folder, job_env(folder)).stdout)


def test_status_shows_each_shard_and_readyz_names_a_shard_that_stops_answering(tmp_path, cluster):
    config = write_config(tmp_path, "endless", dag("endless", NODES, [("ticks", "bars"), ("bars", "store")]))
    port = free_port()
    options = ("--no-progress", "--engine", "ray", "--shards", "2", "--address", cluster)
    process = start_job(tmp_path, config, *options, "--metrics-port", str(port))
    stopped: list[int] = []
    try:
        wait_for(lambda: readyz(port)[0] == 200, TIMEOUT_S, "the job to be ready", process)
        wait_for(
            lambda: [s["state"] for s in status(tmp_path)["shards"] if s["nodes"]] == ["running", "running"],
            TIMEOUT_S, "both shards in the record", process,
        )  # fmt: skip
        record = status(tmp_path)
        assert [s["shard"] for s in record["shards"]] == [0, 1]
        per_shard = sum(s["nodes"]["bars"][0] for s in record["shards"])
        assert per_shard > 0 and record["nodes"]["bars"]["in"] >= per_shard  # the sum, read a moment later
        text = run([MDP, "status", "--job", "endless"], tmp_path, job_env(tmp_path)).stdout
        assert "restarts" in text and any(line.split()[:2] == ["bars", "1"] for line in text.splitlines())
        victim = record["shards"][1]["pid"]
        assert victim in shard_workers()
        os.kill(victim, signal.SIGSTOP)
        stopped.append(victim)
        wait_for(lambda: readyz(port)[0] == 503, TIMEOUT_S, "/readyz to report the missing shard", process)
        code, body = readyz(port)
        assert any("is missing" in reason for reason in body["reasons"]), body
        os.kill(victim, signal.SIGCONT)
        stopped.clear()
        wait_for(lambda: readyz(port)[0] == 200, TIMEOUT_S, "/readyz to recover", process)
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=TIMEOUT_S)
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        stop(process)
    assert process.returncode == 0, err
    final = status(tmp_path)
    assert final["state"] == "stopped" and {s["state"] for s in final["shards"]} == {"finished"}
    assert final["nodes"]["bars"]["in"] == sum(s["nodes"]["bars"][0] for s in final["shards"])
    written = sum(s["rows_written"] for s in final["shards"])
    assert (
        written > 0 and final["sinks"]["store"]["rows_written"] == written == final["totals"]["rows_written"]
    )
    assert all(s["pid"] for s in final["shards"])  # where each ran, kept from its last answer
