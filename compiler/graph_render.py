"""Render a pipeline's DAG as Graphviz DOT or Mermaid text, every label escaped for its format.

Nodes get synthetic ids (``n0``, ``n1``, ... in topological order), so config ids, however odd,
appear only inside labels. A label lists the node's id, its type and its params as written in
the config; a fused node lists its members. Control characters are shown as escapes (``\\n``).
"""

from __future__ import annotations

import json

from .codegen.literals import comment_text
from .ir import Node, Pipeline

MAX_PARAMS = 4
MAX_VALUE = 48
_MERMAID_ENTITIES = {
    '"': "#34;",
    "#": "#35;",
    "&": "#38;",
    "<": "#60;",
    ">": "#62;",
    "`": "#96;",
    "|": "#124;",
}
_DOT_SHAPES = {
    "provider": "shape=ellipse",
    "sink": "shape=cylinder",
    "stateful": "shape=box",
    "inline": 'shape=box, style="rounded"',
    "fused": 'shape=box, style="rounded", peripheries=2',
}
_MERMAID_SHAPES = {
    "provider": ("([", "])"),
    "sink": ("[(", ")]"),
    "stateful": ("[", "]"),
    "inline": ("(", ")"),
    "fused": ("[[", "]]"),
}


def _shape(node: Node) -> str:
    if node.kind in ("provider", "sink"):
        return node.kind
    if node.members:
        return "fused"
    return "inline" if node.stateless else "stateful"


def _flow(value: object) -> str:
    """A param value in YAML flow style, without quotes: ``[AAPL, MSFT]``, ``{a: price * size}``."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_flow(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    return json.dumps(value, ensure_ascii=False)


def _value_text(value: object) -> str:
    text = _flow(value)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def _written_params(pipeline: Pipeline, node: Node) -> dict:
    """The node's params as the config writes them (``window: 1m``, not nanoseconds)."""
    written = pipeline.doc.value_at(node.path + ("params",))
    if isinstance(written, dict):
        return written
    return node.params.model_dump(exclude_defaults=True) if node.params is not None else {}


def param_lines(pipeline: Pipeline, node: Node) -> list[str]:
    """``name: value`` for the node's params, shortened, at most :data:`MAX_PARAMS` of them."""
    items = [f"{name}: {_value_text(value)}" for name, value in _written_params(pipeline, node).items()]
    if len(items) > MAX_PARAMS:
        items = items[: MAX_PARAMS - 1] + [f"… {len(items) - MAX_PARAMS + 1} more"]
    return items


def label_lines(pipeline: Pipeline, node: Node) -> list[str]:
    """The lines of a node's label (raw text, not yet escaped for any format)."""
    if not node.members:
        return [node.id, node.type, *param_lines(pipeline, node)]
    lines = [f"{node.id} (fused: {len(node.members)} operators)"]
    for member in node.members:
        params = "; ".join(param_lines(pipeline, member))
        lines.append(f"{member.id}: {member.type}" + (f", {params}" if params else ""))
    return lines


def dot_string(text: str) -> str:
    r"""A DOT quoted string showing ``text`` literally (control characters as escapes).

    >>> print(dot_string('say "hi"\n'))
    "say \"hi\"\\n"
    >>> print(dot_string("two\nlines"))
    "two\\nlines"
    """
    text = comment_text(text)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def mermaid_text(text: str) -> str:
    """Text safe inside a quoted Mermaid label: special characters as entity codes.

    >>> mermaid_text('a "b" <c> #1')
    'a #34;b#34; #60;c#62; #35;1'
    """
    return "".join(_MERMAID_ENTITIES.get(c, c) for c in comment_text(text))


def _edges(pipeline: Pipeline, ids: dict[str, str]) -> list[tuple[str, str, str | None]]:
    edges = []
    for node in pipeline.ordered():
        for succ in pipeline.successors(node.id):
            edges.append((ids[node.id], ids[succ.id], pipeline.graph.edges[node.id, succ.id].get("port")))
    return edges


def _heading(pipeline: Pipeline, optimised: bool) -> str:
    stage = "after optimisation (fused chains are one node)" if optimised else "before optimisation"
    return comment_text(f"job {pipeline.name!r} from {pipeline.config_path}, {stage}")


def render_dot(pipeline: Pipeline, optimised: bool = False) -> str:
    """The DAG as a Graphviz ``digraph``."""
    nodes = pipeline.ordered()
    ids = {node.id: f"n{index}" for index, node in enumerate(nodes)}
    lines = [
        f"// {_heading(pipeline, optimised)}",
        f"digraph {dot_string(pipeline.name)} {{",
        '  graph [rankdir=LR, fontname="Helvetica"];',
        '  node [fontname="Helvetica", fontsize=11];',
    ]
    for node in nodes:
        label = "\\n".join(dot_string(line)[1:-1] for line in label_lines(pipeline, node))
        lines.append(f'  {ids[node.id]} [label="{label}", {_DOT_SHAPES[_shape(node)]}];')
    for source, target, port in _edges(pipeline, ids):
        lines.append(f"  {source} -> {target}" + (f" [label={dot_string(port)}]" if port else "") + ";")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_mermaid(pipeline: Pipeline, optimised: bool = False) -> str:
    """The DAG as a Mermaid ``flowchart``."""
    nodes = pipeline.ordered()
    ids = {node.id: f"n{index}" for index, node in enumerate(nodes)}
    lines = [f"%% {_heading(pipeline, optimised)}", "flowchart LR"]
    for node in nodes:
        opening, closing = _MERMAID_SHAPES[_shape(node)]
        label = "<br/>".join(mermaid_text(line) for line in label_lines(pipeline, node))
        lines.append(f'    {ids[node.id]}{opening}"{label}"{closing}')
    for source, target, port in _edges(pipeline, ids):
        lines.append(f"    {source} -->" + (f'|"{mermaid_text(port)}"|' if port else "") + f" {target}")
    return "\n".join(lines) + "\n"


RENDERERS = {"dot": render_dot, "mermaid": render_mermaid}
