"""A throwaway Prometheus server (Debian's ``prometheus`` binary) that scrapes a job on 127.0.0.1.

The test that needs it is skipped when the binary is missing, unless ``MDP_REQUIRE_PROMETHEUS``
is set (as CI sets it): then a missing binary fails the test and says how to install it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.jobs import free_port

PROMETHEUS_BINARY = "/usr/bin/prometheus"
REQUIRE_ENV = "MDP_REQUIRE_PROMETHEUS"
SCRAPE_JOB = "mdp"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0

_CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: {scrape_job}
    honor_labels: true
    static_configs:
      - targets: ["127.0.0.1:{metrics_port}"]
"""


def prometheus_binary() -> str:
    """The Prometheus executable; skip the test without one, or fail when ``MDP_REQUIRE_PROMETHEUS`` is set."""
    found = PROMETHEUS_BINARY if os.access(PROMETHEUS_BINARY, os.X_OK) else shutil.which("prometheus")
    if found:
        return found
    message = f"no Prometheus server at {PROMETHEUS_BINARY}: install the Debian package (apt-get install prometheus)"
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{message}; {REQUIRE_ENV} is set, so the monitoring tests cannot be skipped")
    pytest.skip(message)


@dataclass
class Prometheus:
    """A running Prometheus server: its base URL and the log file it writes."""

    url: str
    log: Path

    def query(self, promql: str) -> list[dict]:
        """Evaluate ``promql`` now through ``/api/v1/query`` and return its result list.

        A query that Prometheus refuses (bad syntax, unknown function) fails the test with
        Prometheus' own error text.
        """
        address = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        try:
            with urllib.request.urlopen(address, timeout=5) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as exc:  # 400/422: the body says why
            answer = json.load(exc)
        if answer.get("status") != "success":
            raise AssertionError(f"Prometheus refused {promql!r}: {answer.get('error', answer)}")
        return answer["data"]["result"]

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines Prometheus logged (for failure messages)."""
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
            return response.status == 200
    except OSError:  # not listening yet, or still starting (503)
        return False


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)


@contextlib.contextmanager
def running_prometheus(metrics_port: int, workdir: Path) -> Iterator[Prometheus]:
    """Start Prometheus on a free 127.0.0.1 port, scraping ``127.0.0.1:metrics_port`` every second.

    The scrape keeps the job's own ``job`` label (``honor_labels``), as a deployment of mdp
    should. Config, storage and log live in ``workdir``; the server is stopped on exit
    (terminated, then killed after a timeout).
    """
    binary = prometheus_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(_CONFIG.format(scrape_job=SCRAPE_JOB, metrics_port=metrics_port), encoding="utf-8")
    port = free_port()
    server = Prometheus(url=f"http://127.0.0.1:{port}", log=workdir / "prometheus.log")
    with server.log.open("wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _ready(server.url):
            if process.poll() is not None:
                raise AssertionError(f"prometheus exited {process.returncode}:\n{server.log_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"prometheus not ready after {START_TIMEOUT_S} s:\n{server.log_tail()}")
            time.sleep(0.1)
        yield server
    finally:
        _stop(process)
