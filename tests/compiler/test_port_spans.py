"""Each named output port is reported at the param that names it, even when several name one node."""

from __future__ import annotations

import pytest

from compiler.diagnostics import DiagnosticError
from compiler.driver import compile_text


def _problems(text: str) -> list[tuple[int, int, str]]:
    """(line, column, message) of every diagnostic compiling ``text`` gives."""
    with pytest.raises(DiagnosticError) as caught:
        compile_text("ports.yaml", text)
    return [(d.span.line, d.span.column, d.message) for d in caught.value.diagnostics]


def _router(params: str) -> str:
    return f"""
name: ports
dag:
  nodes:
    - {{id: ticks, type: provider.replay, params: {{path: unused.csv}}}}
    - id: split
      type: operator.router
      params:
        key: symbol
{params}
    - {{id: out, type: sink.null}}
  edges:
    - [ticks, split]
"""


def test_routes_and_default_naming_one_unknown_node_are_each_reported_where_written():
    found = _problems(_router("        routes: {A: outz, B: outz}\n        default: outz"))
    unknown = [(line, column, message) for line, column, message in found if "unknown node 'outz'" in message]
    assert unknown == [
        (10, 21, "route 'A' output of 'split' goes to unknown node 'outz'"),
        (10, 30, "route 'B' output of 'split' goes to unknown node 'outz'"),
        (11, 18, "default output of 'split' goes to unknown node 'outz'"),
    ]


def test_a_number_route_is_reported_at_its_value():
    found = _problems(_router("        routes: {1: out, 2: split}"))
    assert found == [(10, 29, "'split' cannot send its route 2 output to itself")]


def test_a_late_port_is_reported_at_late():
    text = """
name: ports
dag:
  nodes:
    - {id: ticks, type: provider.replay, params: {path: unused.csv}}
    - id: bars
      type: operator.resample_ohlc
      params: {window: 1m, late: bars}
    - {id: out, type: sink.null}
  edges:
    - [ticks, bars]
    - [bars, out]
"""
    assert _problems(text) == [(8, 34, "'bars' cannot send its late output to itself")]
