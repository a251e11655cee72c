"""The compiler's view of the plugin: one Component per node type, found via entry points."""

from __future__ import annotations

from pydantic import Field, field_validator

from compiler.components import Component, Params
from compiler.schema import Schema

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"


class ScaleParams(Params):
    """Multiply one numeric field by a constant factor."""

    field: str = Field("price", pattern=IDENTIFIER, description="the numeric field to scale")
    factor: float = Field(description="the multiplier (not 0)")
    into: str | None = Field(None, pattern=IDENTIFIER, description="field to write (default: replace field)")

    @field_validator("factor")
    @classmethod
    def _not_zero(cls, value: float) -> float:
        if value == 0:
            raise ValueError("factor must not be 0")
        return value


class CsvParams(Params):
    """Write the chosen columns as CSV with a header row."""

    path: str = Field(min_length=1, description="CSV file to write (truncated at start)")
    columns: list[str] = Field(min_length=1, description="fields to write, in this order")


def _scale_output(params: ScaleParams, upstream: Schema | None) -> Schema | None:
    if upstream is None:
        return None
    return Schema({**upstream.fields, (params.into or params.field): True}, upstream.open)


SCALE = Component(
    "operator.example_scale",
    ScaleParams,
    "multiply a numeric field by a factor (example plugin)",
    output=_scale_output,
    runtime="mdp_example_plugin.runtime:Scale",
    kwargs=lambda params: {
        "field": params.field,
        "factor": params.factor,
        "into": params.into or params.field,
    },
    requires=lambda params: [(("params", "field"), params.field)],
)

CSV = Component(
    "sink.example_csv",
    CsvParams,
    "CSV file with a header row (example plugin)",
    output=lambda params, upstream: None,
    runtime="mdp_example_plugin.runtime:CsvSink",
    kwargs=lambda params: {"path": params.path, "columns": tuple(params.columns)},
    requires=lambda params: [(("params", "columns", i), name) for i, name in enumerate(params.columns)],
)

SINKS = (CSV,)
