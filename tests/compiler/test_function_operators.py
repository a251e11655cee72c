"""Custom operators as functions named by import path (``type: "mypkg.ops:above"``): a function of
a record, inlined, and an async generator over the stream, driven by hand; params checked against
the signature with located errors; trust as for every plugin."""

from __future__ import annotations

import pytest

from compiler.diagnostics import DiagnosticError, render_all
from compiler.driver import compile_text
from runtime_lib.context import LocalContext, run_local_job
from runtime_lib.errors import JobError
from runtime_lib.operators.function_ops import AsyncGeneratorOperator
from runtime_lib.stats import NodeStats
from tests.support.compiled_module import load_compiled

TICKS = [
    {"symbol": "AAA", "ts": 1, "price": 10.0, "size": 3},
    {"symbol": "BBB", "ts": 2, "price": 20.0, "size": 5},
    {"symbol": "AAA", "ts": 3, "price": 10.5, "size": None},
    {"symbol": "BBB", "ts": 4, "price": 19.0, "size": 1},
    {"symbol": "AAA", "ts": 5, "price": 11.5, "size": 2},
]


def job(
    *nodes: str, plugins: str = "[tests.support.seed_ops, tests.compiler.test_function_operators]"
) -> str:
    """ticks -> each node in turn -> out; each node is ``type: ..., params: {...}``."""
    lines = [
        "name: fn_job",
        f"plugins: {plugins}",
        "dag:",
        "  nodes:",
        "    - {id: ticks, type: provider.replay, params: {path: unused.csv}}",
    ]
    ids = ["ticks"]
    for index, node in enumerate(nodes):
        ids.append(f"n{index}")
        lines.append(f"    - {{id: n{index}, {node}}}")
    lines.append('    - {id: out, type: sink.jsonl, params: {path: "-"}}')
    ids.append("out")
    lines.append("  edges:")
    lines += [f"    - [{a}, {b}]" for a, b in zip(ids, ids[1:])]
    return "\n".join(lines) + "\n"


def errors_of(text: str) -> str:
    """The rendered diagnostics of a config that must not compile."""
    with pytest.raises(DiagnosticError) as caught:
        compile_text("job.yaml", text)
    return render_all(caught.value.diagnostics, {"job.yaml": text})


def test_function_of_a_record_filters_maps_and_sets_aside_what_raises(caplog):
    module = load_compiled(
        job(
            'type: "tests.support.seed_ops:above", params: {threshold: 10.2}',
            'type: "tests.support.seed_ops:notional", params: {scale: 2}',
        )
    )
    ctx = LocalContext()
    module.build(ctx)
    ctx.outputs["ticks"](TICKS)
    assert ctx.collected["out"] == [
        {**TICKS[1], "notional": 200.0},
        {**TICKS[3], "notional": 38.0},
        {**TICKS[4], "notional": 46.0},
    ]
    assert ctx.node_stats["n0"].dropped == 1  # returned None
    assert ctx.node_stats["n0"].errors == 1  # notional of a tick without a size raised
    assert "record set aside in 'n0' -> 'n1': TypeError" in caplog.text
    assert "plugin_above(r, threshold=10.2)" in module_source(module)


def module_source(module) -> str:
    """The text of a compiled module."""
    with open(module.__file__, encoding="utf-8") as file:
        return file.read()


def test_async_generator_gets_the_stream_and_flushes_at_its_end():
    module = load_compiled(
        job(
            'type: "tests.support.seed_ops:rising", params: {min_step: 0.5}',
            'type: "tests.support.seed_ops:pairs", params: {label: p}',
        )
    )
    ticks = TICKS + [{"symbol": "BBB", "ts": 6, "price": 21.0, "size": 1}]
    expected = [
        {"label": "p", "first": 5, "second": 6},
        {"label": "p", "count": 2},
    ]
    for batch_size in (1, 2, 1024):  # the output does not depend on how the stream is cut
        assert run_local_job(module.build, {"ticks": ticks}, batch_size)["out"] == expected


def test_odd_record_out_is_yielded_after_src_closes():
    module = load_compiled(job('type: "tests.support.seed_ops:pairs", params: {label: x}'))
    out = module.run_local({"ticks": TICKS})["out"]
    assert out == [
        {"label": "x", "first": 1, "second": 2},
        {"label": "x", "first": 3, "second": 4},
        {"label": "x", "first": 5, "second": None},
        {"label": "x", "count": 5},
    ]


def test_params_are_checked_against_the_signature_at_their_line():
    text = job(
        'type: "tests.support.seed_ops:above", params: {treshold: 1}',
        'type: "tests.support.seed_ops:notional", params: {scale: lots}',
        'type: "tests.support.seed_ops:pairs", params: {}',
    )
    assert errors_of(text) == (
        "job.yaml:6:62: error: missing required key 'threshold' in params of tests.support.seed_ops:above\n"
        '    6 |     - {id: n0, type: "tests.support.seed_ops:above", params: {treshold: 1}}\n'
        "      |                                                              ^~~~~~~~~~~~~\n"
        "job.yaml:6:63: error: unknown key 'treshold' in params of tests.support.seed_ops:above\n"
        '    6 |     - {id: n0, type: "tests.support.seed_ops:above", params: {treshold: 1}}\n'
        "      |                                                               ^~~~~~~~\n"
        "  = hint: did you mean 'threshold'?\n"
        "job.yaml:7:73: error: scale: input should be a valid number, unable to parse string as a number "
        "in params of tests.support.seed_ops:notional\n"
        '    7 |     - {id: n1, type: "tests.support.seed_ops:notional", params: {scale: lots}}\n'
        "      |                                                                         ^~~~\n"
        "job.yaml:8:62: error: missing required key 'label' in params of tests.support.seed_ops:pairs\n"
        '    8 |     - {id: n2, type: "tests.support.seed_ops:pairs", params: {}}\n'
        "      |                                                              ^~\n"
        "4 errors"
    )


def test_module_must_be_an_allowed_plugin():
    text = job('type: "tests.support.seed_ops:above", params: {threshold: 1}', plugins="[]")
    assert "job.yaml:6:22: error: module 'tests.support.seed_ops' is not an allowed plugin" in errors_of(text)


async def not_a_generator(src, limit: int):
    """An async function that never yields."""
    return None


def generator(src):
    """A plain generator: not the async kind."""
    yield from src


def takes_kwargs(record, **options):
    """Params cannot be listed from **options."""
    return record


@pytest.mark.parametrize(
    "name, message",
    [
        ("not_a_generator", "is an async function that does not yield"),
        ("generator", "is a generator function, not an async generator"),
        ("takes_kwargs", "takes **options"),
        ("nowhere", "module 'tests.compiler.test_function_operators' has no attribute 'nowhere'"),
    ],
)
def test_callables_that_are_not_operators_are_refused_at_the_type(name, message):
    text = job(f'type: "tests.compiler.test_function_operators:{name}"')
    rendered = errors_of(text)
    assert rendered.startswith("job.yaml:6:22: error: ") and message in rendered, rendered


def test_a_generator_that_awaits_something_else_stops_naming_the_node():
    module = load_compiled(job('type: "tests.support.seed_ops:napping"'))
    with pytest.raises(JobError, match="async operator 'n0' awaited something other than its input"):
        module.run_local({"ticks": TICKS})


def test_a_generator_that_raises_stops_naming_the_node_and_the_record():
    module = load_compiled(job('type: "tests.support.seed_ops:breaks_on", params: {ts: 3}'))
    with pytest.raises(JobError) as caught:
        module.run_local({"ticks": TICKS})
    assert str(caught.value).startswith(
        "async operator 'n0' raised ValueError: cannot take ts 3 (an async generator cannot go on after "
        "it raises); the last record it took: {'symbol': 'AAA', 'ts': 3,"
    )


def test_records_after_the_generator_returned_are_dropped_and_counted():
    async def first_two(src):
        yield await src.__anext__()
        yield await src.__anext__()

    stats = NodeStats("take", "operator.async_generator")
    operator = AsyncGeneratorOperator("take", stats, first_two, {})
    assert operator.process(TICKS[:1]) == TICKS[:1]
    assert operator.process(TICKS[1:]) == TICKS[1:2]
    assert operator.process(TICKS) == [] and operator.flush() == []
    assert (stats.events_in, stats.events_out, stats.dropped) == (10, 2, 8)


def test_an_unfinished_generator_is_closed_when_dropped():
    closed = []

    async def holds(src):
        try:
            async for item in src:
                yield item
        finally:
            closed.append(True)

    operator = AsyncGeneratorOperator("hold", NodeStats("hold", "x"), holds, {})
    assert operator.process(TICKS) == TICKS
    del operator
    assert closed == [True]
