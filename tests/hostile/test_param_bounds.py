"""Numbers and durations in params have bounds, checked by ``mdp validate`` with a located error.

Each case puts one out-of-bounds value into a small config and expects exactly one diagnostic,
at the line and column of that value, with the exact message; values at the bounds validate.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from compiler.cli import app

CONFIG = """\
name: bounds
dag:
  nodes:
    - id: ticks
      type: {source_type}
      params: {source_params}
    - id: step
      type: {op_type}
      params: {op_params}
    - id: store
      type: sink.null
      params: {{}}
  edges:
    - [ticks, step]
    - [step, store]
"""
SYNTHETIC = ("provider.synthetic", "{symbols: [AAA]}")
REPLAY = ("provider.replay", "{path: ticks.csv}")
BARS = ("operator.resample_ohlc", "{window: 1m}")
SOURCE_LINE, OP_LINE = 6, 9


def validate(tmp_path, source=SYNTHETIC, op=BARS) -> tuple[str, int, list[str]]:
    """Write the config and run ``mdp validate`` on it: (stderr, exit status, config lines)."""
    text = CONFIG.format(source_type=source[0], source_params=source[1], op_type=op[0], op_params=op[1])
    config = tmp_path / "bounds.yaml"
    config.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(config)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.stderr, result.exit_code, text.splitlines()


def only_error(tmp_path, line: int, token: str, message: str, source=SYNTHETIC, op=BARS) -> str:
    """Validate and check the single diagnostic: at ``token`` on ``line``, saying ``message``."""
    stderr, status, lines = validate(tmp_path, source, op)
    column = lines[line - 1].index(token) + 1
    assert status == 1, stderr
    assert stderr.splitlines()[0] == f"{tmp_path / 'bounds.yaml'}:{line}:{column}: error: {message}", stderr
    assert stderr.rstrip().endswith("\n1 error"), stderr
    return stderr


TOO_LONG = "is longer than 3650d, the longest mdp accepts"


@pytest.mark.parametrize(
    ("op", "token", "message"),
    [
        (
            ("operator.resample_ohlc", "{window: 99999999999999999999d}"),
            "9999",
            f"duration '99999999999999999999d' {TOO_LONG}",
        ),
        (("operator.resample_ohlc", "{window: 3651d}"), "3651d", f"duration '3651d' {TOO_LONG}"),
        (
            ("operator.resample_ohlc", "{window: 1m, allowed_lateness: 5256001m}"),
            "5256001m",
            f"duration '5256001m' {TOO_LONG}",
        ),
        (("operator.deduplicate", "{ttl: 4000d}"), "4000d", f"duration '4000d' {TOO_LONG}"),
        (
            ("operator.buffer", "{max_items: 10, max_wait: " + "9" * 50 + "s}"),
            "9999",
            f"duration '{'9' * 37}...' {TOO_LONG}",
        ),
    ],
)
def test_durations_longer_than_ten_years_are_located_errors(tmp_path, op, token, message):
    only_error(tmp_path, OP_LINE, token, message, op=op)


@pytest.mark.parametrize(
    ("op", "token", "message"),
    [
        (
            ("operator.throttle", "{rate: 1.0e-300}"),
            "1.0e-300",
            "rate must be at least 0.00001 records per second (about one a day), got 1e-300",
        ),
        (
            ("operator.throttle", "{rate: .inf}"),
            ".inf",
            "rate: input should be a finite number in params of operator.throttle",
        ),
        (
            ("operator.throttle", "{rate: 1.0e+300}"),
            "1.0e+300",
            "rate: input should be less than or equal to 1000000000 in params of operator.throttle",
        ),
        (
            ("operator.throttle", "{rate: 10, burst: 1000000000000}"),
            "1000000000000",
            "burst: input should be less than or equal to 1000000000 in params of operator.throttle",
        ),
        (
            ("operator.throttle", "{rate: 10, on_excess: delay, max_pending: 1000000000}"),
            "1000000000",
            "max_pending: input should be less than or equal to 10000000 in params of operator.throttle",
        ),
        (
            ("operator.buffer", "{max_items: 1000000000, max_wait: 1s}"),
            "1000000000",
            "max_items: input should be less than or equal to 1000000 in params of operator.buffer",
        ),
    ],
)
def test_flow_operator_numbers_have_bounds(tmp_path, op, token, message):
    only_error(tmp_path, OP_LINE, token, message, op=op)


@pytest.mark.parametrize(
    ("params", "token", "message"),
    [
        (
            "{symbols: [AAA], rate: 1.0e-300}",
            "1.0e-300",
            "rate must be 0 (unpaced) or between 0.001 and 1000000000, got 1e-300",
        ),
        (
            "{symbols: [AAA], rate: .nan}",
            ".nan",
            "rate: input should be a finite number in params of provider.synthetic",
        ),
        (
            "{symbols: [AAA], batch_size: 1000000000000}",
            "1000000000000",
            "batch_size: input should be less than or equal to 100000 in params of provider.synthetic",
        ),
        (
            "{symbols: [AAA], count: 10000000000000}",
            "10000000000000",
            "count: input should be less than or equal to 1000000000000 in params of provider.synthetic",
        ),
        (
            "{symbols: [AAA], seed: 99999999999999999999}",
            "9999",
            "seed: input should be less than 9223372036854775808 in params of provider.synthetic",
        ),
    ],
)
def test_synthetic_numbers_have_bounds(tmp_path, params, token, message):
    only_error(tmp_path, SOURCE_LINE, token, message, source=("provider.synthetic", params))


def test_synthetic_count_that_runs_past_2100_is_refused_with_a_hint(tmp_path):
    stderr = only_error(
        tmp_path,
        SOURCE_LINE,
        "10000000000",
        "10000000000 ticks 1s apart run past 2100-01-01 in event time",
        source=("provider.synthetic", "{symbols: [AAA], rate: 1, count: 10000000000}"),
    )
    assert "= hint: at this rate at most 2398239000 ticks fit; lower count or raise rate" in stderr


@pytest.mark.parametrize(
    ("params", "token", "message"),
    [
        (
            "{path: t.csv, speed: 1.0e-300}",
            "1.0e-300",
            "speed must be 0 (unpaced) or between 0.001 and 1000000, got 1e-300",
        ),
        (
            "{path: t.csv, speed: -1}",
            "-1",
            "speed must be 0 (unpaced) or between 0.001 and 1000000, got -1.0",
        ),
        (
            "{path: t.csv, speed: .inf}",
            ".inf",
            "speed: input should be a finite number in params of provider.replay",
        ),
        (
            "{path: t.csv, batch_size: 200000}",
            "200000",
            "batch_size: input should be less than or equal to 100000 in params of provider.replay",
        ),
        (
            "{path: t.csv, batch_size: 0}",
            "0}",
            "batch_size: input should be greater than 0 in params of provider.replay",
        ),
        (
            "{path: t.csv, max_line_bytes: 10}",
            "10}",
            "max_line_bytes: input should be greater than or equal to 64 in params of provider.replay",
        ),
        (
            "{path: t.csv, max_line_bytes: 10000000000}",
            "10000000000",
            "max_line_bytes: input should be less than or equal to 1073741824 in params of provider.replay",
        ),
        (
            "{path: t.csv, ts_range: [2100, 1990]}",
            "[2100",
            "ts_range must be [from, up to] with from before up to, such as [1990, 2100]",
        ),
        (
            "{path: t.csv, ts_range: [1969, 2100]}",
            "1969",
            "year 1969 is outside 1970..2262, the years a ts can hold",
        ),
        (
            "{path: t.csv, ts_range: [1990, 2020-01-01T00:00:00]}",
            "2020",
            "timestamp 2020-01-01T00:00:00 has no UTC offset; write it as ...Z or ...+00:00",
        ),
        (
            "{path: t.csv, ts_range: [soon, 2100]}",
            "soon",
            "bad ts_range bound 'soon': write a year (1990), a date (1990-01-01) "
            "or a timestamp with an offset (1990-01-01T00:00:00Z)",
        ),
        ('{path: "t\\0.csv"}', '"t', "path contains a NUL character"),
    ],
)
def test_replay_params_have_bounds(tmp_path, params, token, message):
    only_error(tmp_path, SOURCE_LINE, token, message, source=("provider.replay", params))


@pytest.mark.parametrize(
    ("source", "op"),
    [
        (
            (
                "provider.replay",
                "{path: t.csv, speed: 1000000, batch_size: 100000,"
                " ts_range: [2024-03-15, 2024-03-16T00:00:00Z]}",
            ),
            BARS,
        ),
        (
            ("provider.replay", "{path: t.csv, speed: 0.001, ts_range: [1970, 2262], max_line_bytes: 64}"),
            BARS,
        ),
        (
            ("provider.synthetic", "{symbols: [AAA], rate: 1000000000, batch_size: 1, count: 1000000000000}"),
            BARS,
        ),
        (SYNTHETIC, ("operator.resample_ohlc", "{window: 3650d, allowed_lateness: 3650d}")),
        (SYNTHETIC, ("operator.deduplicate", "{ttl: 3650d}")),
        (
            SYNTHETIC,
            (
                "operator.throttle",
                "{rate: 0.00001, burst: 1000000000, on_excess: delay, max_pending: 10000000}",
            ),
        ),
        (SYNTHETIC, ("operator.buffer", "{max_items: 1000000, max_wait: 3650d}")),
    ],
)
def test_values_at_the_bounds_validate(tmp_path, source, op):
    stderr, status, _ = validate(tmp_path, source, op)
    assert status == 0, stderr
