"""Whole jobs run with checkpoints through ``mdp run``: killed, signalled, changed and resumed."""

from __future__ import annotations

from pathlib import Path


def job_config(
    name: str,
    ticks_csv: Path,
    url: str,
    speed: float,
    checkpoint_every: str | None = None,
    window: str = "1s",
) -> str:
    """A replay of ``ticks_csv`` at ``speed``, filtered (``size >= 0``: every tick), into ``window``
    bars in the store at ``url``, with
    checkpoints into ``ck/`` every ``checkpoint_every`` when given."""
    run = f"run:\n  checkpoint: {{every: {checkpoint_every}, dir: ck}}\n" if checkpoint_every else ""
    return f"""\
name: {name}
mode: dag
{run}dag:
  nodes:
    - id: ticks
      type: provider.replay
      params: {{path: "{ticks_csv}", speed: {speed}, batch_size: 1024}}
    - id: sized
      type: operator.filter
      params: {{where: "size >= 0"}}
    - id: bars
      type: operator.resample_ohlc
      params: {{window: {window}}}
    - id: store
      type: sink.store
      params: {{url: "{url}"}}
  edges:
    - [ticks, sized]
    - [sized, bars]
    - [bars, store]
"""
