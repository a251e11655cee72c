"""Jobs connected by a Redis stream give what one job gives; a Redis that is down is a clear error."""

from __future__ import annotations

import pytest

from tests.streams.jobs import FAST_RETRY, SAMPLE_TICK_COUNT, SAMPLE_TICKS, dag, mdp_run, write_config
from tests.support.jobs import bar_rows, free_port
from tests.support.redis_server import require_redis_client, running_redis

BARS = ("bars", "operator.resample_ohlc", "{window: 1m}")


@pytest.fixture(scope="module")
def server():
    """One server for the module's tests; each test uses its own streams."""
    with running_redis() as running:
        yield running


def test_two_jobs_joined_by_a_stream_give_the_bars_of_one_job(server, tmp_path):
    replay = ("ticks", "provider.replay", f"{{path: {SAMPLE_TICKS}}}")
    url = server.url()
    producer = dag(
        "produce",
        [replay, ("out", "sink.redis_stream", f'{{url: "{url}", stream: ticks}}')],
        [("ticks", "out")],
    )
    consumer = dag(
        "consume",
        [
            (
                "ticks",
                "provider.redis_stream",
                f'{{url: "{url}", stream: ticks, group: bars, consumer: one}}',
            ),
            BARS,
            ("store", "sink.store", "{url: 'sqlite:///two.db'}"),
        ],
        [("ticks", "bars"), ("bars", "store")],
    )
    direct = dag(
        "direct",
        [replay, BARS, ("store", "sink.store", "{url: 'sqlite:///one.db'}")],
        [("ticks", "bars"), ("bars", "store")],
    )
    mdp_run(tmp_path, write_config(tmp_path, "produce", producer))
    assert server.client().xlen("ticks") == SAMPLE_TICK_COUNT
    mdp_run(tmp_path, write_config(tmp_path, "consume", consumer), "--max-events", str(SAMPLE_TICK_COUNT))
    mdp_run(tmp_path, write_config(tmp_path, "direct", direct))
    two, one = bar_rows(tmp_path / "two.db"), bar_rows(tmp_path / "one.db")
    assert len(one) > 50 and two == one
    assert server.client().xpending("ticks", "bars")["pending"] == 0  # acknowledged after the flush


def test_a_sink_whose_redis_is_down_retries_then_stops_with_a_clear_error(tmp_path):
    require_redis_client()
    url = f"redis://127.0.0.1:{free_port()}/0"
    config = dag(
        "produce",
        [
            ("ticks", "provider.synthetic", "{symbols: [AAA], count: 10}"),
            (
                "out",
                "sink.redis_stream",
                f'{{url: "{url}", stream: ticks, retry: {{max_attempts: 2, initial_backoff: 10ms}}}}',
            ),
        ],
        [("ticks", "out")],
    )
    result = mdp_run(tmp_path, write_config(tmp_path, "produce", config), check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: sink 'out' ({url} stream ticks) failed: ConnectionError: ")
    assert last.endswith("(after 2 attempts); it had written no rows")


def test_a_source_whose_redis_is_down_retries_then_stops_with_a_clear_error(tmp_path):
    require_redis_client()
    url = f"redis://127.0.0.1:{free_port()}/0"
    config = dag(
        "consume",
        [
            (
                "ticks",
                "provider.redis_stream",
                f'{{url: "{url}", stream: ticks, retry: {{max_attempts: 3, initial_backoff: 10ms}}}}',
            ),
            ("out", "sink.jsonl", "{path: out.jsonl}"),
        ],
        [("ticks", "out")],
    )
    result = mdp_run(tmp_path, write_config(tmp_path, "consume", config), check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: provider 'ticks' ({url} stream ticks) failed: ConnectionError: ")
    assert last.endswith("(after 3 attempts)")


def test_a_wrong_password_from_the_environment_is_a_clear_error_that_never_shows_it(tmp_path):
    with running_redis(password="the-right-one") as secured:
        url = secured.url(password="${REDIS_PASSWORD}")
        config = dag(
            "produce",
            [
                ("ticks", "provider.synthetic", "{symbols: [AAA], count: 10}"),
                ("out", "sink.redis_stream", f'{{url: "{url}", stream: ticks, retry: {FAST_RETRY}}}'),
            ],
            [("ticks", "out")],
        )
        path = write_config(tmp_path, "produce", config)
        wrong = mdp_run(tmp_path, path, check=False, REDIS_PASSWORD="a-wrong-one")
        mdp_run(tmp_path, path, REDIS_PASSWORD="the-right-one")
        assert secured.client().xlen("ticks") == 10
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr
    assert "a-wrong-one" not in wrong.stderr and "the-right-one" not in wrong.stderr
    last = wrong.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"error: sink 'out' (redis://:***@127.0.0.1:{secured.port}/0 stream ticks) failed: "
    )
    assert "attempts" not in last  # refused at once: a wrong password does not pass
