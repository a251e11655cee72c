"""Formatting a module statement by statement gives what one black call over the module gives."""

from __future__ import annotations

from pathlib import Path

import black
import pytest
import yaml

from compiler.codegen import format as fmt
from compiler.codegen.emit import BLACK_MODE, render
from compiler.driver import plan_document, read_config
from compiler.load.config import load_config
from tests.support.dag_shapes import chain_yaml, fan_out_yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(
    [*(ROOT / "configs").rglob("*.yaml"), *(ROOT / "tests" / "golden").glob("*/config.yaml")],
    key=lambda p: str(p.relative_to(ROOT)),
)


def rendered(file: str, text: str) -> str:
    """The module for a config as the templates write it, before black."""
    return render(plan_document(load_config(file, text)))


def assert_formats_as_black(source: str) -> str:
    formatted = fmt.format_module(source, BLACK_MODE)
    assert formatted == black.format_str(source, mode=BLACK_MODE)
    return formatted


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_config_and_golden_case_formats_as_one_black_call_does(config, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert_formats_as_black(rendered(*read_config(config.relative_to(ROOT))))


def test_a_large_fan_out_formats_as_one_black_call_does_with_each_kind_of_statement_formatted_once(
    monkeypatch,
):
    source = rendered("fan.yaml", fan_out_yaml(700))  # 233 branches, ids of one to three digits
    fmt._template.cache_clear()
    calls = []
    format_str = black.format_str
    monkeypatch.setattr(
        fmt.black, "format_str", lambda text, mode: calls.append(text) or format_str(text, mode=mode)
    )
    formatted = fmt.format_module(source, BLACK_MODE)
    monkeypatch.undo()
    assert formatted == black.format_str(source, mode=BLACK_MODE)
    assert formatted.count("def to_f") == 233
    assert len(calls) < 40 and max(map(len, calls)) < len(source) // 20


def test_a_chain_whose_loops_have_lines_too_long_to_stay_whole_formats_as_one_black_call_does():
    formatted = assert_formats_as_black(rendered("chain.yaml", chain_yaml(300)))
    assert formatted.count("# fused into one loop: ") == 10
    assert max(len(line) for line in formatted.splitlines() if not line.lstrip().startswith("#")) <= 110


HOSTILE_IDS = [
    "it's",
    'say "hi"',
    "back\\slash",
    "日本語のノード",
    "🙂" * 30,
    "é\u0301",
    "x" * 100,
    "type: ignore",
    "# noqa",
    "'''",
]


@pytest.mark.parametrize("directive", ["", "fmt: off", "fmt: skip", "yapf: disable"])
def test_ids_that_black_might_read_differently_format_as_one_black_call_does(directive):
    ids = HOSTILE_IDS + ([directive] if directive else [])
    nodes = [{"id": "ticks", "type": "provider.synthetic", "params": {"symbols": ["A", "B" * 90]}}]
    edges = []
    for i, node_id in enumerate(ids):
        nodes += [
            {"id": node_id, "type": "operator.filter", "params": {"where": f"symbol != {node_id!r}"}},
            {"id": f"{node_id} bars", "type": "operator.resample_ohlc", "params": {"window": "1m"}},
            {"id": f"{node_id} out", "type": "sink.jsonl", "params": {"path": f"out-{i}-{node_id}.jsonl"}},
        ]
        edges += [["ticks", node_id], [node_id, f"{node_id} bars"], [f"{node_id} bars", f"{node_id} out"]]
    text = yaml.safe_dump({"name": "hostile", "mode": "dag", "dag": {"nodes": nodes, "edges": edges}})
    assert_formats_as_black(rendered("it's 日本.yaml", text))


HAND_WRITTEN = {
    "nested functions, comments and blank lines": '''\
# leading comment
"""Module docstring.

Over several lines.
"""
import os
x=1
def build(ctx):
    """Build."""
    # a comment before a statement
    a = ctx.thing( 'a' , "b" )


    # a comment before a function, after two blank lines
    def inner(batch):
        for r in batch:
            try:
                if not (r["size"]>=100): continue
            except Exception as exc:  # trailing comment
                pass
        return batch
    def stub(): ...
    b = [1,2,3,]
    c = some_function_with_a_long_name(argument_number_one, argument_number_two, argument_number_three, four)
    return inner
class Thing:
    """A class."""
    x: int = 1
    def method(self): return self.x ** 2
if __name__ == "__main__":
    build(None)
''',
    "features that set black's target versions": """\
def f(a, /, b, *, c):
    if (n := len(a)) > 10:
        return f"{a!r:>{n}} {b=}"
    return 1_000_000 + 0x_FF + 1E5 if False else u'x' + B'y'.decode()
def g(*args, **kwargs):
    return h(*args, **kwargs, very_long_keyword_argument_name=another_very_long_value_name_here_ok)
""",
    "what only the slow path handles": """\
import os
x = [  # fmt: skip
    1,2 ]
y = 1 + \\
    2
@decorator
def f():
    pass
""",
}


@pytest.mark.parametrize("name", HAND_WRITTEN)
def test_hand_written_modules_format_as_one_black_call_does(name, monkeypatch):
    source = HAND_WRITTEN[name]
    fmt._template.cache_clear()
    calls = []
    format_str = black.format_str
    monkeypatch.setattr(
        fmt.black, "format_str", lambda text, mode: calls.append(text) or format_str(text, mode=mode)
    )
    formatted = fmt.format_module(source, BLACK_MODE)
    monkeypatch.undo()
    assert formatted == black.format_str(source, mode=BLACK_MODE)
    assert (calls == [source]) == (name == "what only the slow path handles")


def test_a_mode_with_preview_features_goes_through_one_black_call(monkeypatch):
    mode = black.Mode(line_length=110, preview=True)
    calls = []
    format_str = black.format_str
    monkeypatch.setattr(
        fmt.black, "format_str", lambda text, mode: calls.append(text) or format_str(text, mode=mode)
    )
    source = HAND_WRITTEN["nested functions, comments and blank lines"]
    assert fmt.format_module(source, mode) == format_str(source, mode=mode)
    assert calls == [source]
