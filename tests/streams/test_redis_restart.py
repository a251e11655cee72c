"""Redis restarts (append-only file on) while one job writes a stream and another reads it:
nothing goes missing downstream; what arrives twice is counted (delivery is at least once)."""

from __future__ import annotations

import signal
from collections import Counter

from tests.streams.jobs import FAST_RETRY, dag, finish, jsonl_lines, mdp_run, start_job, write_config
from tests.support.jobs import stop, wait_for
from tests.support.redis_server import running_redis

COUNT = 6000
TICKS = (
    "ticks",
    "provider.synthetic",
    f"{{symbols: [AAA, BBB, CCC], seed: 11, count: {COUNT}, rate: 3000, batch_size: 50}}",
)


def test_a_redis_restart_loses_nothing_between_two_jobs(tmp_path):
    reference = dag(
        "reference", [TICKS, ("out", "sink.jsonl", "{path: reference.jsonl}")], [("ticks", "out")]
    )
    mdp_run(tmp_path, write_config(tmp_path, "reference", reference))
    expected = Counter(jsonl_lines(tmp_path / "reference.jsonl"))
    assert sum(expected.values()) == COUNT

    with running_redis(appendonly=True) as server:
        url = server.url()
        producer = dag(
            "produce",
            [TICKS, ("out", "sink.redis_stream", f'{{url: "{url}", stream: ticks, retry: {FAST_RETRY}}}')],
            [("ticks", "out")],
        )
        source = (
            f'{{url: "{url}", stream: ticks, group: g, consumer: one, batch_size: 100, retry: {FAST_RETRY}}}'
        )
        consumer = dag(
            "consume",
            [("ticks", "provider.redis_stream", source), ("out", "sink.jsonl", "{path: consumed.jsonl}")],
            [("ticks", "out")],
        )
        consuming = start_job(tmp_path, write_config(tmp_path, "consume", consumer))
        producing = start_job(tmp_path, write_config(tmp_path, "produce", producer))
        consumed = tmp_path / "consumed.jsonl"
        try:
            wait_for(
                lambda: len(jsonl_lines(consumed)) >= COUNT // 4, 30, "the first ticks downstream", consuming
            )
            server.stop()
            server.start()
            status, err = finish(producing)
            assert status == 0, err
            assert "failed; attempt" in err  # the producer did wait the restart out
            wait_for(
                lambda: set(jsonl_lines(consumed)) >= set(expected), 30, "every tick downstream", consuming
            )
            consuming.send_signal(signal.SIGTERM)
            status, err = finish(consuming)
            assert status == 0, err
            assert f"ticks: reading {url} stream ticks again" in err  # the consumer waited it out too
            pending = server.client().xpending("ticks", "g")["pending"]
            in_stream = server.client().xlen("ticks")
        finally:
            stop(producing)
            stop(consuming)

    got = Counter(jsonl_lines(consumed))
    assert not expected - got  # every tick arrived (at least as often as it was generated)
    assert not set(got) - set(expected)  # and nothing else did
    duplicates = sum(got.values()) - COUNT
    print(
        f"redis restart: {in_stream - COUNT} ticks written twice into the stream, "
        f"{duplicates} ticks delivered twice downstream"
    )
    assert pending == 0
