"""Turn pydantic ``ValidationError`` entries into located diagnostics."""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

from .diagnostics import Diagnostic
from .load.document import Document
from .suggest import did_you_mean


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the (sub)model that a loc's parent points into, for did-you-mean."""
    current: type[BaseModel] | None = model
    for part in loc[:-1]:
        if current is None or isinstance(part, int):
            continue
        info = current.model_fields.get(part)
        if info is None:
            return []
        annotation = info.annotation
        args = getattr(annotation, "__args__", ()) or (annotation,)
        current = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
    return list(current.model_fields) if current is not None else []


def diagnostics_from(
    error: ValidationError, doc: Document, model: type[BaseModel], prefix: tuple = (), what: str = ""
) -> list[Diagnostic]:
    """One diagnostic per pydantic error, located through ``doc`` at ``prefix + loc``.

    ``what`` names the thing validated (``"params of operator.filter"``) for clearer messages.
    """
    found = []
    for entry in error.errors(include_url=False):
        loc = tuple(entry["loc"])
        kind = entry["type"]
        where = f" in {what}" if what else ""
        if kind == "missing":
            message = f"missing required key {loc[-1]!r}{where}"
            found.append(Diagnostic(doc.span(prefix + loc[:-1]), message))
        elif kind == "extra_forbidden":
            allowed = _allowed_keys(model, loc)
            hint = did_you_mean(loc[-1], allowed) or (
                f"allowed keys: {', '.join(allowed)}" if allowed else "this takes no keys"
            )
            found.append(
                Diagnostic(doc.span(prefix + loc, prefer_key=True), f"unknown key {loc[-1]!r}{where}", hint)
            )
        else:
            message = entry["msg"].removeprefix("Value error, ")
            message = message[:1].lower() + message[1:]
            path = ".".join(str(p) for p in loc if not str(p).startswith("function-"))
            label = f"{path}: " if path and kind != "value_error" else ""
            suffix = "" if kind == "value_error" else where  # our own validators name the node type
            found.append(Diagnostic(doc.span(prefix + loc), f"{label}{message}{suffix}"))
    return found
