"""Describe a component for people and tools: its params (from the pydantic JSON schema), input and output."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from runtime_lib.timeutil import format_duration

from .components import Component
from .schema import Schema

CONSTRAINTS = {
    "minimum": ">=",
    "exclusiveMinimum": ">",
    "maximum": "<=",
    "exclusiveMaximum": "<",
    "minLength": "min length",
    "maxLength": "max length",
    "minItems": "min items",
    "maxItems": "max items",
    "minProperties": "min entries",
    "pattern": "matches",
}
_PROBES = (Schema.of(("probe_a",)), Schema.of(("probe_b",)))


def type_text(schema: dict) -> str:
    """A short type for a JSON schema: ``string``, ``list[string] | null``, ``duration``, ...

    >>> type_text({"anyOf": [{"items": {"type": "string"}, "type": "array"}, {"type": "null"}]})
    'list[string] | null'
    >>> type_text({"enum": ["none", "flat"], "type": "string"})
    '"none" | "flat"'
    """
    if "anyOf" in schema:
        return " | ".join(type_text(option) for option in schema["anyOf"])
    if "enum" in schema:
        return " | ".join(json.dumps(value) for value in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    kind = schema.get("type")
    if kind == "array":
        if "prefixItems" in schema:
            return "tuple[" + ", ".join(type_text(item) for item in schema["prefixItems"]) + "]"
        return f"list[{type_text(schema.get('items', {}))}]"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"dict[string, {type_text(schema['additionalProperties'])}]"
    if kind == "string" and schema.get("format") == "duration":
        return "duration"
    if isinstance(kind, list):
        return " | ".join(kind)
    return kind or "any"


def _is_duration(schema: dict) -> bool:
    options = schema.get("anyOf", [schema])
    return any(option.get("format") == "duration" for option in options)


def _constraints(schema: dict) -> dict[str, Any]:
    found = {key: schema[key] for key in CONSTRAINTS if key in schema}
    for option in schema.get("anyOf", []):
        found.update({key: option[key] for key in CONSTRAINTS if key in option})
    return found


def shown_value(prop: dict, default: Any, defs: dict) -> Any:
    """``default`` as a config would write it: durations with a unit, in nested params too."""
    if _is_duration(prop) and isinstance(default, int) and not isinstance(default, bool):
        return format_duration(default)
    refs = [
        option["$ref"]
        for option in [prop, *prop.get("anyOf", []), *prop.get("allOf", [])]
        if "$ref" in option
    ]
    if isinstance(default, dict) and refs:
        nested = defs.get(refs[0].rsplit("/", 1)[-1], {}).get("properties", {})
        return {key: shown_value(nested.get(key, {}), value, defs) for key, value in default.items()}
    return default


def params_of(component: Component) -> list[dict]:
    """Each param of a component: name, type, default, required, description and constraints."""
    schema = component.params.model_json_schema()
    required = set(schema.get("required", ()))
    rows = []
    for name, prop in schema.get("properties", {}).items():
        row = {"name": name, "type": type_text(prop), "required": name in required}
        if "default" in prop:
            row["default"] = shown_value(prop, prop["default"], schema.get("$defs", {}))
        row["description"] = prop.get("description", "")
        row["constraints"] = _constraints(prop)
        rows.append(row)
    return rows


class _NoParams:
    """Stands in for params to learn whether a component's schema functions read them."""

    def __getattr__(self, name: str) -> Any:
        raise LookupError(name)


def _sample_params(component: Component) -> tuple[Any, str]:
    """Params to probe with, and a prefix saying what the answer then depends on."""
    try:
        return component.params.model_validate({}), "with default params: "
    except ValidationError:
        return None, ""


def _probe(component: Component, call) -> tuple[Any, str] | None:
    """Call ``call(params)`` with no params at all, else with default params; None if both fail."""
    try:
        return call(_NoParams()), ""
    except Exception:
        params, prefix = _sample_params(component)
    if params is None:
        return None
    try:
        return call(params), prefix
    except Exception:
        return None


def _fields_text(schema: Schema) -> str:
    required = [n for n, req in schema.fields.items() if req]
    optional = [n for n, req in schema.fields.items() if not req]
    text = ", ".join(required) or "no fixed fields"
    if optional:
        text += "; optional: " + ", ".join(optional)
    return text + ("; plus any others" if schema.open else "")


def input_text(component: Component) -> str:
    """What a component needs from its input, in words."""
    if component.kind == "provider":
        return "none (a source has no inputs)"
    probed = _probe(component, component.requires)
    if probed is None:
        needs = "depends on its params"
    else:
        names, prefix = probed
        fields = list(dict.fromkeys(name for _, name in names))
        needs = prefix + ("records with fields " + ", ".join(fields) if fields else "any records")
    if component.params.model_fields:
        needs += "; every field its expressions or params name must exist upstream"
    return needs


def output_text(component: Component) -> str:
    """What a component's output records carry, in words."""
    if component.kind == "sink":
        return "none (a sink has no outputs)"
    probed = [
        _probe(component, lambda params, probe=probe: component.output(params, probe)) for probe in _PROBES
    ]
    if probed[0] is None or probed[1] is None:
        return "depends on its params"
    (first, prefix), (second, _) = probed
    if first is _PROBES[0] and second is _PROBES[1]:
        return prefix + "its input's records (same fields)"
    if first is None:
        return prefix + "none"
    if first == second:
        return prefix + _fields_text(first)
    added = [n for n in first.fields if n not in _PROBES[0].fields]
    if set(_PROBES[0].fields) <= set(first.fields) and added == [
        n for n in second.fields if n not in _PROBES[1].fields
    ]:
        return prefix + "its input's fields plus " + ", ".join(added)
    return prefix + "derived from its input's fields"


def describe(component: Component, origin: str) -> dict:
    """A JSON-ready description of one component."""
    doc = (component.params.__doc__ or "").strip()
    return {
        "type": component.type_name,
        "kind": component.kind,
        "summary": component.summary,
        "description": doc,
        "origin": origin,
        "runtime": component.runtime,
        "params": params_of(component),
        "input": input_text(component),
        "output": output_text(component),
    }
