"""A shard's share of a replay: each shard keeps the ticks of its own symbols, and sets aside its
own rows, so that the shares of N shards together are exactly what one process reads: the same
ticks in the same order per shard, every set-aside row on exactly one shard, and the same error
(integer timestamps in seconds before the first tick) on every shard, by either reading."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime_lib.errors import JobError
from runtime_lib.hashing import stable_hash
from runtime_lib.sources.replay import FAST_READER, ReplaySource, read_tick_chunks
from runtime_lib.sources.shard_share import ShardShare
from runtime_lib.stats import NodeStats
from tests.runtime.test_replay_fast_path import HEADERS, T0, small_blocks, tick_file  # noqa: F401 (a fixture)


def read(path, fast: bool, share: ShardShare | None = None) -> tuple[list, list, str | None]:
    """The ticks, the rows set aside and any error of reading ``path`` (one shard's share)."""
    set_aside: list[tuple[str, str]] = []
    ticks: list = []
    try:
        for chunk in read_tick_chunks(
            str(path), set_aside=lambda *row: set_aside.append(row), fast=fast, share=share
        ):
            ticks.extend(chunk[:])
    except JobError as exc:
        return ticks, set_aside, str(exc)
    return ticks, set_aside, None


@pytest.mark.usefixtures("small_blocks")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.sampled_from(HEADERS),
    rows=st.integers(0, 300),
    odd=st.lists(st.tuples(st.integers(0, 300), st.integers(0, 40)), max_size=12),
    seed=st.integers(0, 2**32),
    shards=st.integers(2, 3),
    fast=st.sampled_from([True, False] if FAST_READER else [False]),
)
def test_the_shares_of_all_shards_add_up_to_one_reading(
    tmp_path_factory, header, rows, odd, seed, shards, fast
):
    path = tmp_path_factory.mktemp("ticks") / "t.csv"
    tick_file(path, header, rows, odd, seed, crlf=False)
    ticks, set_aside, error = read(path, fast)
    every_share = []
    for shard in range(shards):
        own_ticks, own_set_aside, own_error = read(path, fast, ShardShare(shard, shards))
        assert own_error == error
        assert own_ticks == [t for t in ticks if stable_hash(t["symbol"]) % shards == shard]
        every_share += own_set_aside
    assert sorted(every_share) == sorted(set_aside)


def test_a_timestamp_in_seconds_after_another_shards_first_tick_is_set_aside_as_in_one_process(tmp_path):
    # one process has read a tick (of A) before the row in seconds (of B): it sets the row aside;
    # the shard that owns B has no tick of its own before it, and must still set it aside
    a, b = "A", next(s for s in ("B", "C", "D", "E") if stable_hash(s) % 2 != stable_hash("A") % 2)
    path = tmp_path / "t.csv"
    path.write_text(f"symbol,ts,price,size\n{a},{T0},1.0,1\n{b},1700000000,2.0,1\n{b},{T0 + 1},3.0,1\n")
    for fast in [True, False] if FAST_READER else [False]:
        shares = [read(path, fast, ShardShare(shard, 2)) for shard in range(2)]
        owner_of_b = stable_hash(b) % 2
        assert [error for _t, _s, error in shares] == [None, None]
        assert [len(aside) for _t, aside, _e in shares] == [int(k == owner_of_b) for k in range(2)]
        assert [t["price"] for t in shares[owner_of_b][0]] == [3.0]


def test_a_replay_source_with_a_share_counts_only_its_own_ticks(tmp_path):
    path = tmp_path / "t.csv"
    symbols = [f"S{i}" for i in range(20)]
    path.write_text(
        "symbol,ts,price,size\n" + "".join(f"{s},{T0 + i},1.5,2\n" for i, s in enumerate(symbols * 5))
    )

    async def count(share) -> int:
        source = ReplaySource("ticks", path=str(path), share=share)
        source.stats = NodeStats("ticks", "provider.replay")
        return sum([len(batch) async for batch in source.batches()])

    counts = [asyncio.run(count((shard, 3))) for shard in range(3)]
    assert sum(counts) == 100 and all(counts)
    assert counts[0] == 5 * sum(stable_hash(s) % 3 == 0 for s in symbols)
    with pytest.raises(ValueError, match="shard must be between 0 and 2"):
        ReplaySource("ticks", path=str(path), share=(3, 3))


def test_the_shares_of_a_parquet_input_add_up_to_one_reading(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    symbols = [f"S{i}" for i in range(12)] + [""]  # an empty symbol is set aside, by its owner only
    table = pa.table(
        {
            "symbol": [symbols[i % len(symbols)] for i in range(500)],
            "ts": [T0 + i for i in range(500)],
            "price": [1.0 + i for i in range(500)],
            "size": [i % 7 for i in range(500)],
        }
    )
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=64)
    ticks, set_aside, error = read(tmp_path / "t.parquet", True)
    assert error is None and set_aside
    every_share = []
    for shard in range(3):
        own_ticks, own_set_aside, _error = read(tmp_path / "t.parquet", True, ShardShare(shard, 3))
        assert own_ticks == [t for t in ticks if stable_hash(t["symbol"]) % 3 == shard]
        every_share += own_set_aside
    assert sorted(every_share) == sorted(set_aside)
