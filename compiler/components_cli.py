"""``mdp components [TYPE] [--json]``: every node type (built-in and plugin) and its params."""

from __future__ import annotations

import json
from typing import Annotated

import typer

BUILT_IN = "built-in"
KIND_ORDER = {"provider": 0, "operator": 1, "sink": 2}


def _origins() -> dict[str, str]:
    from .components import REGISTRY, registry
    from .components.plugins import installed

    plugins = installed(REGISTRY).plugins
    return {name: plugins[name].origin if name in plugins else BUILT_IN for name in registry()}


def _value(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _param_brief(row: dict) -> str:
    if row["required"]:
        return f"{row['name']}*"
    return f"{row['name']}={_value(row['default'])}" if "default" in row else row["name"]


def list_text(described: list[dict]) -> str:
    """One entry per type: name, summary and origin, then its params on one line."""
    width = max(len(d["type"]) for d in described)
    lines = []
    for d in described:
        origin = "" if d["origin"] == BUILT_IN else f"  [plugin: {d['origin']}]"
        lines.append(f"{d['type']:<{width}}  {d['summary']}{origin}")
        params = ", ".join(_param_brief(row) for row in d["params"]) or "(none)"
        lines.append(f"{'':<{width}}  params: {params}")
    lines += ["", "* required.  `mdp components TYPE` shows one type in detail; --json for tools."]
    return "\n".join(lines)


def _constraint_text(constraints: dict) -> str:
    from .component_docs import CONSTRAINTS

    return ", ".join(f"{CONSTRAINTS[key]} {_value(value)}" for key, value in constraints.items())


def detail_text(d: dict) -> str:
    """Everything about one type: summary, params with type/default/description, input, output."""
    lines = [f"{d['type']}  ({d['kind']}, {d['origin']})", f"  {d['summary']}"]
    if d["description"]:
        lines += [""] + [f"  {line}".rstrip() for line in d["description"].splitlines()]
    lines += ["", "params:" if d["params"] else "params: none"]
    for row in d["params"]:
        facts = [row["type"], "required" if row["required"] else f"default {_value(row.get('default'))}"]
        if row["constraints"]:
            facts.append(_constraint_text(row["constraints"]))
        lines.append(f"  {row['name']}: {'; '.join(facts)}")
        if row["description"]:
            lines.append(f"      {row['description']}")
    runtime = d["runtime"] or "none: inlined into fused loops"
    lines += ["", f"input:   {d['input']}", f"output:  {d['output']}", f"runtime: {runtime}"]
    return "\n".join(lines)


def components_command(
    type_name: Annotated[
        str | None, typer.Argument(metavar="[TYPE]", help="show this type in detail", show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for tools")] = False,
) -> None:
    """List every node type (built-in and plugin) with its params, or show one TYPE in detail."""
    from .component_docs import describe
    from .components import REGISTRY, ComponentNotFound, lookup, registry
    from .components.plugins import installed

    if type_name is not None:
        try:
            component = lookup(type_name)
        except ComponentNotFound as exc:
            typer.echo(f"error: {exc.message}" + (f"\n  = hint: {exc.hint}" if exc.hint else ""), err=True)
            raise typer.Exit(1) from None
        known = registry().get(component.type_name) is component
        origin = _origins()[component.type_name] if known else f"import path {type_name}"
        described = describe(component, origin)
        typer.echo(json.dumps(described, indent=2, ensure_ascii=False) if as_json else detail_text(described))
        return
    origins = _origins()
    ordered = sorted(registry().items(), key=lambda item: (KIND_ORDER.get(item[1].kind, 3), item[0]))
    described = [describe(component, origins[name]) for name, component in ordered]
    if as_json:
        problems = list(installed(REGISTRY).problems)
        typer.echo(
            json.dumps({"components": described, "plugin_problems": problems}, indent=2, ensure_ascii=False)
        )
    else:
        typer.echo(list_text(described))
