"""Consumer groups: what a killed consumer read stays pending, and is delivered again, not lost."""

from __future__ import annotations

import signal

import pytest

from runtime_lib.redis_codec import decode_record
from tests.streams.jobs import (
    dag,
    finish,
    mdp_run,
    numbers,
    start_job,
    stream_records,
    write_config,
    write_ticks,
)
from tests.support.jobs import stop, wait_for
from tests.support.redis_server import running_redis

COUNT = 3000


@pytest.fixture
def server():
    """A fresh server per test: each test counts what its group left pending."""
    with running_redis() as running:
        yield running


def relay(server, name: str, consumer: str, *, claim_idle: str, throttle: bool) -> str:
    """A job that copies the group's entries of ``in`` to the stream ``out`` (slowly, when ``throttle``)."""
    source = f'{{url: "{server.url()}", stream: in, group: g, consumer: {consumer}, records: any, batch_size: 100, claim_idle: {claim_idle}}}'
    nodes = [("ticks", "provider.redis_stream", source)]
    edges = []
    if throttle:  # holds what it read, releasing 1000 a second
        nodes.append(("slow", "operator.throttle", "{rate: 1000, burst: 50, on_excess: delay}"))
        edges.append(("ticks", "slow"))
    nodes.append(("out", "sink.redis_stream", f'{{url: "{server.url()}", stream: out}}'))
    edges.append(("slow" if throttle else "ticks", "out"))
    return dag(name, nodes, edges)


def pending_numbers(client) -> set[int]:
    """The ``n`` of every entry of ``in`` pending in group ``g``."""
    ids = {entry["message_id"] for entry in client.xpending_range("in", "g", "-", "+", COUNT)}
    return {record_n for entry_id, record_n in id_numbers(client) if entry_id in ids}


def delivered_numbers(client) -> set[int]:
    """The ``n`` of every entry of ``in`` group ``g`` has delivered (up to its last delivered id)."""
    [group] = [g for g in client.xinfo_groups("in") if g["name"] in (b"g", "g")]
    last = group["last-delivered-id"]
    last = last if isinstance(last, bytes) else last.encode()
    return {n for entry_id, n in id_numbers(client) if _id_key(entry_id) <= _id_key(last)}


def _id_key(entry_id: bytes) -> tuple[int, int]:
    ms, seq = entry_id.split(b"-")
    return int(ms), int(seq)


def id_numbers(client) -> list[tuple[bytes, int]]:
    """(entry id, ``n``) of every entry of ``in``."""
    return [(entry_id, decode_record(fields)["n"]) for entry_id, fields in client.xrange("in")]


@pytest.mark.parametrize(
    ("second", "claim_idle"),
    [("two", "1ms"), ("one", "1h")],
    ids=["another consumer claims them", "the same consumer restarted re-reads them"],
)
def test_entries_a_killed_consumer_read_are_delivered_again_and_none_is_lost(
    server, tmp_path, second, claim_idle
):
    client = server.client()
    write_ticks(client, "in", COUNT)
    first = start_job(
        tmp_path,
        write_config(tmp_path, "first", relay(server, "first", "one", claim_idle="1h", throttle=True)),
    )
    try:
        wait_for(lambda: client.xlen("out") >= 300, 30, "the first consumer's output", first)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        stop(first)
    written_before = set(numbers(stream_records(client, "out")))
    pending = pending_numbers(client)
    assert pending and len(written_before) < COUNT
    # it acknowledged only what it had written (entries it had not read yet are neither)
    assert delivered_numbers(client) - pending <= written_before

    config = write_config(
        tmp_path, "second", relay(server, "second", second, claim_idle=claim_idle, throttle=False)
    )
    mdp_run(tmp_path, config, "--max-events", str(len(pending)))  # what the first left unacknowledged

    delivered = numbers(stream_records(client, "out"))
    assert sorted(set(delivered)) == list(range(COUNT))  # nothing lost
    duplicates = len(delivered) - COUNT
    print(f"{duplicates} entries delivered twice (the first consumer wrote them, then died unacknowledged)")
    assert duplicates == len(written_before & pending)
    assert client.xpending("in", "g")["pending"] == 0


def test_a_stateless_job_acknowledges_while_it_runs(server, tmp_path):
    client = server.client()
    write_ticks(client, "in", COUNT)
    job = start_job(
        tmp_path,
        write_config(tmp_path, "relay", relay(server, "relay", "one", claim_idle="1h", throttle=False)),
    )
    try:
        wait_for(lambda: client.xlen("out") == COUNT, 30, "every entry copied", job)
        wait_for(lambda: client.xpending("in", "g")["pending"] == 0, 30, "every entry acknowledged", job)
        job.send_signal(signal.SIGTERM)
        status, err = finish(job)
    finally:
        stop(job)
    assert status == 0, err
    assert numbers(stream_records(client, "out")) == list(range(COUNT))
