"""Format a generated module with black, one statement at a time, each distinct one once.

The result is byte for byte what ``black.format_str`` gives for the whole module; only the work
is spread differently. Black lays out each logical line on its own, from its tokens, their
widths and the line length; only the blank lines before a statement depend on what the
statement before it left behind. So each unit of the module (see :mod:`.format_units`) is
formatted after its context, and the part of the output after the context is the unit's.
Units whose skeletons agree (a fan-out's branches, a chain's filters) share that work: black
formats the skeleton once, and each unit fills its own tokens in.

A skeleton's placeholders keep the width of what they replace only on the lines that are too
long to stay whole; on the others, a line that black leaves whole in the skeleton and that
still fits filled in is what black writes for the unit too. Where that does not hold, the unit
is formatted from a skeleton with every width kept, and where the shortcut's conditions do not
hold at all (a comment that directs black, a line continuation, a black mode with preview
features, output that does not line up), the whole module goes through ``black.format_str``.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import NamedTuple

import black
from black.mode import VERSION_TO_FEATURES, TargetVersion
from black.parsing import InvalidInput, lib2to3_parse
from black.strings import str_width

from .format_units import SIGNIFICANT, TOKEN, Row, Unsupported, rows, units

_CACHE_SIZE = 1024
_PARSED_AS = {TargetVersion.PY37}  # parse with the grammar black tries first, and with that one only


class _Job(NamedTuple):
    """One unit to format: its context's text, loose skeleton and number of significant
    tokens, and its own rows."""

    context: str
    context_skeleton: str
    context_count: int
    rows: list[Row]


def format_module(source: str, mode: black.Mode) -> str:
    """Return what ``black.format_str(source, mode=mode)`` returns, formatting each distinct
    statement once (see the module docstring)."""
    if mode.is_pyi or mode.is_ipynb or mode.skip_source_first_line or mode.preview or mode.unstable:
        return black.format_str(source, mode=mode)
    if mode.enabled_features:
        return black.format_str(source, mode=mode)
    try:
        return _by_units(source, mode)
    except Unsupported:
        return black.format_str(source, mode=mode)


def _by_units(source: str, mode: black.Mode) -> str:
    found = rows(source, mode)
    jobs = []
    for unit in units(found):
        context = [found[index] for index in unit.context]
        jobs.append(
            _Job(
                "".join(row.text for row in context),
                "".join(row.loose for row in context),
                sum(row.count for row in context),
                found[unit.start : unit.end],
            )
        )
    if not mode.target_versions:
        mode = dataclasses.replace(mode, target_versions=_target_versions(jobs))
    return "".join(_formatted(job, mode) for job in jobs)


def _target_versions(jobs: list[_Job]) -> set[TargetVersion]:
    """The Python versions black would infer from the whole module: those that have every
    feature some statement uses (the features of a module are those of its statements)."""
    features = set()
    for pair in {job.context_skeleton + "".join(row.loose for row in job.rows) for job in jobs}:
        features |= _features(pair)
    versions = {version for version in TargetVersion if features <= VERSION_TO_FEATURES[version]}
    if TargetVersion.PY39 not in versions:
        raise Unsupported("syntax newer than Python 3.9, which black parses with other grammars")
    return versions


@lru_cache(maxsize=_CACHE_SIZE)
def _features(text: str) -> frozenset:
    try:
        return frozenset(black.get_features_used(lib2to3_parse(text, _PARSED_AS)))
    except InvalidInput:
        raise Unsupported("black's first grammar does not parse it") from None


def _formatted(job: _Job, mode: black.Mode) -> str:
    """Black's output for one unit: from its skeleton (exact placeholders on its long lines,
    loose ones elsewhere) if that lines up and every loose line stays whole and still fits
    filled in, else from its exact skeleton, else from the unit's own text."""
    values = tuple(value for row in job.rows for value in row.values)
    slots, base = [], 0
    for row in job.rows:
        slots += (base + slot for slot in row.slots)
        base += row.count
    slots = tuple(slots)
    head = (job.context_skeleton, job.context_count)
    if all(row.flat for row in job.rows):
        text = "".join(row.exact if row.long else row.loose for row in job.rows)
        whole = tuple(number for number, row in enumerate(job.rows) if row.slots and not row.long)
        found = _template(*head, text, slots, whole, mode)
        if found is not None:
            filled = _fill(found[0], values)
            lines = filled.split("\n")
            if all(_fits(lines[line], mode.line_length) for line in found[1]):
                return filled
    found = _template(*head, "".join(row.exact for row in job.rows), slots, (), mode)
    if found is not None:
        return _fill(found[0], values)
    found = _template(job.context, job.context_count, "".join(row.text for row in job.rows), (), (), mode)
    if found is None:
        raise Unsupported("the output does not line up with the input")
    return found[0][0]


def _fill(chunks: tuple[str, ...], values: tuple[str, ...]) -> str:
    out = [chunks[0]]
    for value, chunk in zip(values, chunks[1:]):
        out += (value, chunk)
    return "".join(out)


def _fits(row: str, line_length: int) -> bool:
    """Whether black leaves ``row`` as it is: it is short enough, or a comment of its own."""
    return str_width(row) <= line_length or row.lstrip().startswith("#")


@lru_cache(maxsize=_CACHE_SIZE)
def _template(
    context: str,
    context_count: int,
    text: str,
    slots: tuple[int, ...],
    whole: tuple[int, ...],
    mode: black.Mode,
) -> tuple[tuple[str, ...], tuple[int, ...]] | None:
    """Black's output for ``text`` after ``context``, cut around the significant tokens of
    ``text`` numbered in ``slots`` (placeholders), and the rows of that output that hold the
    lines ``whole`` of ``text``; None if the output does not line up, or black split or
    changed one of those lines.

    Black keeps the significant tokens and their order, so the unit's output begins on the line
    of the first significant token after the context's, with the blank lines before it.
    """
    formatted = black.format_str(context + text, mode=mode)
    found, expected = _significant(formatted), _significant(text)
    if len(found) != context_count + len(expected) or not expected:
        return None
    found = found[context_count:]
    first = formatted.rfind("\n", 0, found[0][0]) + 1
    cut = len(formatted[:first].rstrip("\n")) + 1 if context_count else 0
    chunks, previous = [], cut
    for index in slots:
        start, end, word = found[index]
        if word != expected[index][2]:
            return None
        chunks.append(formatted[previous:start])
        previous = end
    chunks.append(formatted[previous:])
    rows = _whole_rows(formatted, cut, found, text, whole)
    return None if rows is None else (tuple(chunks), rows)


def _whole_rows(
    formatted: str, cut: int, found: list, text: str, whole: tuple[int, ...]
) -> tuple[int, ...] | None:
    """For each line of ``text`` numbered in ``whole``, the row of the unit's output (from
    ``cut``) that is that line, spaces aside; None if black split or changed one of them."""
    first_token, index, line = {}, 0, 0
    for match in TOKEN.finditer(text):
        if match.lastgroup in SIGNIFICANT:
            first_token.setdefault(line, index)
            index += 1
        line += match.group().count("\n")
    lines, rows = text.split("\n"), []
    for number in whole:
        position = found[first_token[number]][0]
        start = formatted.rfind("\n", 0, position) + 1
        end = formatted.find("\n", position)
        if "".join(formatted[start:end].split()) != "".join(lines[number].split()):
            return None
        rows.append(formatted.count("\n", cut, start))
    return tuple(rows)


def _significant(text: str) -> list[tuple[int, int, str]]:
    """(start, end, text) of each token black keeps in order (see :data:`SIGNIFICANT`)."""
    return [(m.start(), m.end(), m.group()) for m in TOKEN.finditer(text) if m.lastgroup in SIGNIFICANT]
