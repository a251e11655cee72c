"""The config loader refuses, with a located error and in bounded time and memory, files that
would make it expand aliases without end, recurse past Python's stack, or read for minutes."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from compiler.diagnostics import DiagnosticError
from compiler.load.config import load_config
from compiler.load.limits import MAX_ALIAS_NODES, MAX_CONFIG_CHARS, MAX_NESTING
from compiler.load.yaml_spans import load_yaml
from tests.support.jobs import MDP

BOUND_S = 10
MEMORY_BOUND_KB = 500_000
NODES = """\
name: j
mode: dag
dag:
  nodes:
    - id: ticks
      type: provider.synthetic
      params: {symbols: [AAA], seed: 7, rate: 10, batch_size: 8}
"""
# Each line's list holds nine of the previous one: *j alone would stand for 10**9 values.
BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{new}: &{new} [{','.join(['*' + old] * 9)}]\n" for old, new in zip("abcdefghi", "bcdefghij")
)


def validate_measured(tmp_path, name: str, text: str) -> tuple[int, str, float, int]:
    """Run ``mdp validate`` on ``text`` (written to ``name``) in a fresh process; return its exit
    status, stderr, wall time and peak memory (KB), measured by a parent that runs nothing else."""
    (tmp_path / name).write_text(text, encoding="utf-8")
    measure = (
        "import json, resource, subprocess, sys\n"
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "print(json.dumps([r.returncode, r.stderr, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))\n"
    )
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", measure, MDP, "validate", name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    status, stderr, max_rss_kb = json.loads(out.stdout)
    return status, stderr, time.monotonic() - start, max_rss_kb


def load_error(file: str, text: str) -> str:
    """The first diagnostic of loading ``text`` as ``file``, as ``file:line:col: message``."""
    with pytest.raises(DiagnosticError) as caught:
        load_config(file, text)
    d = caught.value.diagnostics[0]
    return f"{d.span.file}:{d.span.line}:{d.span.column}: {d.message}"


def test_billion_laughs_is_refused_at_the_alias_quickly_and_in_little_memory(tmp_path):
    status, stderr, elapsed, max_rss_kb = validate_measured(tmp_path, "laughs.yaml", BILLION_LAUGHS)
    assert stderr.splitlines() == [
        "laughs.yaml:5:8: error: YAML aliases expand to more than 10,000 values",
        "    5 | e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]",
        "      |        ^~",
        "  = hint: each *alias repeats its anchored value, and aliases inside it repeat theirs; "
        "write the values out, or use fewer nested aliases",
        "1 error",
    ]
    assert status == 1
    assert elapsed < BOUND_S, f"took {elapsed:.1f}s"
    assert max_rss_kb < MEMORY_BOUND_KB, f"used {max_rss_kb} KB"


def test_self_referencing_alias_is_a_located_error_not_a_recursion(tmp_path):
    status, stderr, elapsed, _ = validate_measured(tmp_path, "self.yaml", NODES + "extra: &loop [1, *loop]\n")
    assert stderr.splitlines() == [
        "self.yaml:8:18: error: alias *loop is inside the value it refers to",
        "    8 | extra: &loop [1, *loop]",
        "      |                  ^~~~~",
        "  = hint: a value cannot contain itself; move *loop out of &loop",
        "1 error",
    ]
    assert (status, elapsed < BOUND_S) == (1, True)


def test_alias_inside_a_nested_part_of_its_own_anchor_is_refused():
    assert (
        load_error("c.yaml", "a: &a {b: [1, {c: *a}]}\n")
        == "c.yaml:1:19: alias *a is inside the value it refers to"
    )


def test_500_levels_of_yaml_nesting_are_refused_at_the_first_level_too_many(tmp_path):
    text = NODES.replace("[AAA]", "[" * 500 + "]" * 500)
    status, stderr, elapsed, _ = validate_measured(tmp_path, "deep.yaml", text)
    head, hint = stderr.splitlines()[0], stderr.splitlines()[-2]
    # the root mapping, dag, nodes, the node and params are five levels: the 96th '[' is the 101st
    assert head == "deep.yaml:7:120: error: the config is nested more than 100 levels deep"
    assert hint == "  = hint: a config needs only a few levels of lists and mappings"
    assert (status, elapsed < BOUND_S) == (1, True)
    assert "Traceback" not in stderr


def test_5000_levels_of_json_nesting_are_refused_before_json_recurses(tmp_path):
    text = '{"name": "j", "dag": ' + "[" * 5000 + "]" * 5000 + "}"
    status, stderr, elapsed, _ = validate_measured(tmp_path, "deep.json", text)
    assert stderr.splitlines()[0] == "deep.json:1:121: error: the config is nested more than 100 levels deep"
    assert (status, elapsed < BOUND_S) == (1, True)


@pytest.mark.parametrize("file", ["c.yaml", "c.json"])
def test_yaml_and_json_agree_on_the_nesting_limit(file):
    fits = '{"a": ' + "[" * (MAX_NESTING - 1) + "1" + "]" * (MAX_NESTING - 1) + "}"
    assert load_config(file, fits).values[("a",) + (0,) * (MAX_NESTING - 1)].column == MAX_NESTING + 6
    too_deep = '{"a": ' + "[" * MAX_NESTING + "1" + "]" * MAX_NESTING + "}"
    assert load_error(file, too_deep) == f"{file}:1:106: the config is nested more than 100 levels deep"


def test_aliases_that_nest_past_the_limit_are_refused_at_the_alias():
    text = "a0: &a0 [1]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 150))
    # line 100 is a99's list (level 2) holding *a98, 99 levels deep itself
    assert (
        load_error("c.yaml", text) == "c.yaml:100:12: alias *a98 nests the config more than 100 levels deep"
    )


def test_the_alias_budget_counts_every_value_an_alias_stands_for():
    anchor = "base: &b [" + ", ".join(["0"] * 99) + "]\n"  # 100 values: the list and its items
    uses = [f"u{i}: *b\n" for i in range(MAX_ALIAS_NODES // 100 + 1)]
    assert len(load_yaml("c.yaml", anchor + "".join(uses[:-1])).data) == 1 + MAX_ALIAS_NODES // 100
    last = len(uses) + 1
    assert load_error("c.yaml", anchor + "".join(uses)) == (
        f"c.yaml:{last}:{len(f'u{last - 2}: ') + 1}: YAML aliases expand to more than 10,000 values"
    )


def test_ordinary_aliases_and_merge_keys_still_load_with_spans():
    text = "base: &b {x: 1, y: [1, 2]}\nn:\n  <<: *b\n  z: 3\nm: *b\n"
    doc = load_yaml("c.yaml", text)
    assert doc.data == {
        "base": {"x": 1, "y": [1, 2]},
        "n": {"x": 1, "y": [1, 2], "z": 3},
        "m": {"x": 1, "y": [1, 2]},
    }
    assert (doc.values[("m", "y", 1)].line, doc.values[("m", "y", 1)].column) == (
        1,
        24,
    )  # at the anchored value
    assert (doc.keys[("n", "z")].line, doc.keys[("n", "z")].column) == (4, 3)


@pytest.mark.parametrize("file", ["big.yaml", "big.json"])
def test_a_config_over_the_size_limit_is_refused_before_it_is_read(file):
    start = time.monotonic()
    text = "#" * (MAX_CONFIG_CHARS + 1) if file.endswith(".yaml") else " " * (MAX_CONFIG_CHARS + 1)
    assert (
        load_error(file, text)
        == f"{file}:1:1: the config is 4,000,001 characters long; the limit is 4,000,000"
    )
    assert time.monotonic() - start < BOUND_S


def test_a_control_character_is_a_located_yaml_error():
    assert load_error("c.yaml", "a: 1\nb: x\x07y\n") == (
        "c.yaml:2:5: invalid YAML: unacceptable character #x0007: special characters are not allowed"
    )
