"""Inlined operators write their own code; the module's imports are grouped by where they come from."""

from __future__ import annotations

from compiler.codegen.emit import _sorted_imports
from compiler.components import Component, lookup, registry
from compiler.components.base import Inline
from compiler.components.plugins import component_problem


def test_every_builtin_stateless_operator_has_an_inline_hook():
    stateless = {name: c for name, c in registry().items() if c.stateless}
    assert sorted(stateless) == [
        "operator.filter",
        "operator.hash_partition",
        "operator.map",
        "operator.router",
    ]
    assert all(c.runtime is None for c in stateless.values())


def test_a_plugin_component_cannot_be_inlined():
    inlined = Component(
        "operator.inlined",
        lookup("operator.filter").params,
        "a plugin asking to be inlined",
        output=lambda params, upstream: upstream,
        runtime="mdp_example_plugin.runtime:Scale",
        kwargs=lambda params: {},
        inline=Inline(lambda writer, node: None, summary=lambda params: ""),
    )
    assert (
        component_problem(inlined) == "operator.inlined: only built-in operators are inlined into fused loops"
    )


def test_imports_are_grouped_standard_library_then_runtime_lib_then_plugins():
    imports = {
        "from runtime_lib.job import main, run_local_job",
        "from mypkg.ops import mid as plugin_mid",
        "import math",
        "from collections.abc import Mapping",
        "from runtime_libx import thing",
        "from operator import itemgetter",
    }
    assert _sorted_imports(imports) == [
        "from collections.abc import Mapping",
        "from operator import itemgetter",
        "import math",
        "",
        "from runtime_lib.job import main, run_local_job",
        "",
        "from mypkg.ops import mid as plugin_mid",
        "from runtime_libx import thing",
    ]
