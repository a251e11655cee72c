"""The example IBKR job through the real command line (``mdp run``), and its params at compile time.

The runs use copies of ``configs/dag/ibkr_bars.yaml`` that differ only in what each test needs
(the port, the connect timeout, a fast reconnect), so the example itself is what is exercised.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from fake_tws import FakeTws
from prometheus_client.parser import text_string_to_metric_families

from compiler.diagnostics import DiagnosticError
from compiler.driver import compile_file, compile_text

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "configs" / "dag" / "ibkr_bars.yaml"
MDP = str(Path(sys.executable).parent / "mdp")
TIMEOUT_S = 60


def example_copy(folder: Path, **replace: str) -> Path:
    """A copy of the example config in ``folder`` with each ``key: value`` text replaced once."""
    text = EXAMPLE.read_text(encoding="utf-8")
    for old, new in replace.items():
        assert text.count(old) == 1, f"{old!r} is not in the example config exactly once"
        text = text.replace(old, new)
    path = folder / "ibkr_bars.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def job_env(tmp_path: Path) -> dict[str, str]:
    """This environment (``MDP_IB_CLIENT`` included) with a private cache and no run settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDP_UNIFIED_")}
    env["MDP_CACHE_DIR"] = str(tmp_path / "mdp-cache")
    return env


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (checked)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, f"something listens on {port}"
    return port


def mdp_run(config: Path, tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``mdp run CONFIG ARGS`` in ``tmp_path``; return the result and the wall time."""
    started = time.monotonic()
    result = subprocess.run(
        [MDP, "run", str(config), *args],
        cwd=tmp_path,
        env=job_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    return result, time.monotonic() - started


def error_lines(stderr: str) -> list[str]:
    """The lines the job prints as its verdict (``error: ...``)."""
    return [line for line in stderr.splitlines() if line.startswith("error:")]


# -- failing to connect ---------------------------------------------------------------------------


def test_the_example_points_at_the_ib_gateway_paper_port_on_this_host():
    source = compile_file(EXAMPLE).plan.pipeline.node("quotes").params
    assert (source.host, source.port, source.stream) == ("127.0.0.1", 4002, "quotes")


def test_mdp_run_without_a_gateway_fails_fast_with_a_readable_message(tmp_path):
    port = closed_port()
    config = example_copy(
        tmp_path, **{"port: 4002": f"port: {port}", "connect_timeout: 5": "connect_timeout: 60"}
    )
    result, seconds = mdp_run(config, tmp_path)
    assert result.returncode == 1, result.stderr
    assert error_lines(result.stderr) == [
        f"error: no TWS/IB Gateway at 127.0.0.1:{port} — start IB Gateway or set host/port"
    ]
    assert result.stderr.rstrip().endswith("start IB Gateway or set host/port")
    assert "Traceback" not in result.stderr
    assert (
        seconds < 30
    ), f"took {seconds:.1f} s: a refused connection must not wait for connect_timeout (60 s)"
    assert not (tmp_path / "mdp-data" / "ibkr_bars.db").exists()


def test_mdp_run_against_a_port_that_never_answers_names_the_connect_timeout(tmp_path):
    with socket.socket() as silent:  # accepts connections (the kernel does) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        config = example_copy(
            tmp_path, **{"port: 4002": f"port: {port}", "connect_timeout: 5": "connect_timeout: 0.5"}
        )
        result, seconds = mdp_run(config, tmp_path)
    assert result.returncode == 1, result.stderr
    assert error_lines(result.stderr) == [
        f"error: TWS/IB Gateway at 127.0.0.1:{port} did not complete the API handshake within 0.5 s "
        "(connect_timeout) — is the API enabled in its settings, and is this the API port?"
    ]
    assert "Traceback" not in result.stderr
    assert seconds >= 0.5


# -- a running job --------------------------------------------------------------------------------


def scrape(port: int) -> dict[str, dict[tuple, float]]:
    """Prometheus samples by name, then by sorted label items."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        text = response.read().decode("utf-8")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_mdp_run_reconnects_and_serves_the_reconnect_count_on_the_metrics_port(run, tmp_path):
    metrics_port = closed_port()
    reconnect = "reconnect: {initial_delay: 1, max_delay: 30, max_attempts: 10}"
    source = (("job", "ibkr_bars"), ("node", "quotes"))

    async def sample(name: str, labels: tuple) -> float | None:
        try:
            samples = await asyncio.to_thread(scrape, metrics_port)
        except OSError:
            return None  # not serving yet
        return samples.get(name, {}).get(labels)

    async def wait_for_sample(job, name: str, labels: tuple, value: float) -> None:
        deadline = asyncio.get_running_loop().time() + TIMEOUT_S / 2
        while await sample(name, labels) != value:
            assert job.returncode is None, "the job ended"
            assert asyncio.get_running_loop().time() < deadline, f"{name} never reached {value}"
            await asyncio.sleep(0.05)

    async def scenario():
        async with FakeTws() as tws:
            config = example_copy(
                tmp_path,
                **{
                    "port: 4002": f"port: {tws.port}",
                    reconnect: "reconnect: {initial_delay: 0.05, max_delay: 1}",
                },
            )
            job = await asyncio.create_subprocess_exec(
                MDP, "run", str(config), "--metrics-port", str(metrics_port), cwd=tmp_path,
                env=job_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
            try:
                symbols = ["AAPL", "MSFT", "IBM", "EUR"]
                await tws.wait_subscribed("mktdata", symbols, timeout=TIMEOUT_S / 2)
                tws.quote("AAPL", bid=100.0, bid_size=1, ask=100.5, ask_size=2)
                await wait_for_sample(
                    job, "mdp_node_events_out_total", source + (("type", "provider.ibkr.stream"),), 1
                )
                before = await sample("mdp_source_reconnects_total", source)
                await tws.drop()
                await tws.wait_subscribed("mktdata", symbols, conn=2, timeout=10)
                tws.quote("AAPL", bid=100.25, bid_size=1, ask=100.5, ask_size=2)
                await wait_for_sample(job, "mdp_source_reconnects_total", source, 1)
                await wait_for_sample(
                    job, "mdp_node_events_out_total", source + (("type", "provider.ibkr.stream"),), 2
                )
                job.send_signal(signal.SIGINT)
                _out, err = await asyncio.wait_for(job.communicate(), TIMEOUT_S / 2)
            finally:
                if job.returncode is None:
                    job.kill()
                    await job.communicate()
            await tws.wait_disconnected()
            return before, job.returncode, err.decode()

    before, returncode, stderr = run(scenario(), timeout=TIMEOUT_S)
    assert before == 0.0
    assert returncode == 0, stderr
    assert "lost the connection to TWS/IB Gateway" in stderr and "reconnected to 127.0.0.1:" in stderr
    with sqlite3.connect(tmp_path / "mdp-data" / "ibkr_bars.db") as db:
        bars = db.execute("SELECT symbol, open, close, count FROM bars ORDER BY ts").fetchall()
    # one quote before the drop and one after (two bars if a minute ended in between)
    assert {b[0] for b in bars} == {"AAPL"} and sum(b[3] for b in bars) == 2
    assert (bars[0][1], bars[-1][2]) == (100.25, 100.375)
    assert f"rows written by 'store': {len(bars)}" in stderr


def readyz(port: int) -> tuple[int, dict] | None:
    """Status and JSON body of the job's /readyz, or None while nothing listens."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except OSError:
        return None


def test_readyz_is_503_while_the_gateway_is_gone_and_200_while_streaming(run, tmp_path):
    metrics_port = closed_port()

    async def wait_for_ready(job, status: int) -> dict:
        deadline = asyncio.get_running_loop().time() + TIMEOUT_S / 2
        while True:
            answer = await asyncio.to_thread(readyz, metrics_port)
            if answer is not None and answer[0] == status:
                return answer[1]
            assert job.returncode is None, "the job ended"
            assert asyncio.get_running_loop().time() < deadline, f"/readyz never answered {status}: {answer}"
            await asyncio.sleep(0.05)

    async def scenario():
        async with FakeTws() as tws:
            config = example_copy(tmp_path, **{"port: 4002": f"port: {tws.port}"})
            job = await asyncio.create_subprocess_exec(
                MDP, "run", str(config), "--metrics-port", str(metrics_port), cwd=tmp_path,
                env=job_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
            try:
                await tws.wait_subscribed("mktdata", ["AAPL", "MSFT", "IBM", "EUR"], timeout=TIMEOUT_S / 2)
                ready = await wait_for_ready(job, 200)
                await tws.stop_listening()  # the gateway goes away and stays away
                await tws.drop()
                not_ready = await wait_for_ready(job, 503)
                job.send_signal(signal.SIGINT)
                await asyncio.wait_for(job.communicate(), TIMEOUT_S / 2)
            finally:
                if job.returncode is None:
                    job.kill()
                    await job.communicate()
            return ready, not_ready

    ready, not_ready = run(scenario(), timeout=TIMEOUT_S)
    assert ready["ready"] is True and ready["reasons"] == []
    assert not_ready["ready"] is False
    [reason] = not_ready["reasons"]
    assert reason.startswith("source 'quotes': reconnecting to TWS/IB Gateway at 127.0.0.1:"), reason


# -- params, checked when compiling ---------------------------------------------------------------


BAD = """\
name: bad
mode: dag
dag:
  nodes:
    - id: quotes
      type: provider.ibkr.stream
      params:
        symbols:
          - AAPL
          - {symbol: ES, sec_type: FUT}
          - {symbol: AAPL, exchange: ISLAND}
          - {symbol: EURUSD, sec_type: CASH, curency: USD}
          - {symbol: X, sec_type: OPT}
        stream: trades
        tick_by_tick_type: BidAsk
        reconnect: {initial_delay: 1, attempts: 3}
    - {id: out, type: sink.null}
  edges: [[quotes, out]]
"""


def problems(text: str) -> list[tuple[int, str, str | None]]:
    """(line, message, hint) of every diagnostic compiling ``text`` reports."""
    with pytest.raises(DiagnosticError) as caught:
        compile_text("bad.yaml", text)
    return [(d.span.line, d.message, d.hint) for d in caught.value.diagnostics]


def test_params_are_checked_when_compiling_with_located_messages():
    assert problems(BAD) == [
        (12, "unknown key 'curency' in params of provider.ibkr.stream", "did you mean 'currency'?"),
        (13, "symbols.4.sec_type: input should be 'STK', 'FUT', 'CASH', 'IND' or 'CRYPTO' in params of "
             "provider.ibkr.stream", None),
        (16, "unknown key 'attempts' in params of provider.ibkr.stream", "did you mean 'max_attempts'?"),
    ]  # fmt: skip
    fixed = BAD.replace(", curency: USD", "").replace("\n          - {symbol: X, sec_type: OPT}", "")
    assert problems(fixed.replace(", attempts: 3", "")) == [
        (10, "future 'ES' needs an expiry", "add expiry: YYYYMM (contract month) or YYYYMMDD"),
        (11, "symbol 'AAPL' is listed twice (also at symbols.0)", "list each symbol once"),
        (14, "tick_by_tick_type applies only to stream: tick_by_tick, not trades",
         "remove it, or set stream: tick_by_tick"),
    ]  # fmt: skip
    [(line, message, _hint)] = problems(fixed.replace("attempts: 3", "max_delay: 0.5"))
    assert line == 15 and message.startswith(
        "reconnect max_delay (0.5 s) is shorter than initial_delay (1 s)"
    )


GOOD = """\
name: good
mode: dag
dag:
  nodes:
    - id: quotes
      type: provider.ibkr.stream
      params:
        symbols: [AAPL, {symbol: ES, sec_type: fut, exchange: CME, expiry: 202512}, {symbol: EURUSD, sec_type: CASH}]
        stream: tick_by_tick
        tick_by_tick_type: Last
    - {id: out, type: sink.null}
  edges: [[quotes, out]]
"""


def test_the_generated_module_gets_plain_symbol_dicts_and_imports_only_the_provider():
    compiled = compile_text("good.yaml", GOOD)
    node = compiled.plan.pipeline.node("quotes")
    kwargs = node.component.kwargs(node.params)
    assert kwargs["symbols"] == (
        {"symbol": "AAPL", "sec_type": "STK"},
        {"symbol": "ES", "sec_type": "FUT", "exchange": "CME", "expiry": "202512"},
        {"symbol": "EURUSD", "sec_type": "CASH"},
    )
    assert (kwargs["tick_by_tick_type"], kwargs["port"], kwargs["readonly"]) == ("Last", 4002, True)
    assert kwargs["reconnect"] == {"initial_delay": 1.0, "max_delay": 30.0, "max_attempts": 10}
    imports = [line for line in compiled.source.splitlines() if line.startswith(("import ", "from "))]
    assert "from runtime_lib.sources.ibkr import IbkrSource" in imports
    assert not any("ib_insync" in line or "ib_async" in line for line in imports)
