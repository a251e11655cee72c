"""Each optimisation pass against its fixture file of titled input/expected cases."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from compiler.driver import analyse
from compiler.optimize import PASSES, optimize
from tests.support.pipeline_factory import config_text

FIXTURES = Path(__file__).parents[1] / "fixtures" / "optimize"
PASSES_BY_NAME = {p.__name__: p for p in PASSES}


def _cases() -> list:
    return [
        pytest.param(path.stem, case, id=f"{path.stem}: {case['title']}")
        for path in sorted(FIXTURES.glob("*.yaml"))
        for case in yaml.safe_load(path.read_text())
    ]


def test_every_pass_has_a_fixture_file():
    assert sorted(PASSES_BY_NAME) == sorted(p.stem for p in FIXTURES.glob("*.yaml"))


@pytest.mark.parametrize("pass_name, case", _cases())
def test_pass(pass_name, case):
    pipeline = analyse("case.yaml", config_text(case["nodes"], case["edges"]))
    result = optimize(pipeline, (PASSES_BY_NAME[pass_name],))
    nodes = {node_id: [m.id for m in result.node(node_id).chain()] for node_id in result.graph}
    assert nodes == case["expected"]["nodes"]
    assert sorted(map(list, result.graph.edges)) == sorted(case["expected"]["edges"])
    assert [w.message for w in result.warnings] == case.get("warnings", [])
    assert pipeline.graph.number_of_nodes() == len(case["nodes"]), "a pass must not modify its input"
