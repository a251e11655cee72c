"""Cut a rendered module into statements, and each line into the skeleton black formats.

Used by :mod:`compiler.codegen.format`. A *unit* is one top-level statement, or one statement
of a top-level function's body when that body is split, with the blank lines and comments
before it; the units of a module, in order, are the whole text. Black lays a unit out the same
way wherever it stands, once it knows the statement before it: what that statement leaves
behind for black (its last line and the functions that line is in), its *context*, is the
statement reduced to the function headers around its last line and the last statement there.

A *skeleton* replaces the tokens that differ from node to node (identifiers, string and number
literals, comments on lines of their own) by placeholders that black treats the same way: a
placeholder is a token of the same kind, and strings and comments are first written the way
black writes them. An *exact* placeholder also has the width of the token it stands for; a
*loose* one need not. Units that differ only in such tokens share one skeleton, so black
formats it once. The module is read once: each of its rows (a logical line, or a blank or
comment line) is kept with both of its skeletons, and units and contexts are joined from rows.
"""

from __future__ import annotations

import keyword
import re
from functools import lru_cache
from typing import NamedTuple

import black
from black.strings import (
    normalize_string_prefix,
    normalize_string_quotes,
    normalize_unicode_escape_sequences,
    str_width,
)
from blib2to3.pgen2 import token
from blib2to3.pytree import Leaf

TOKEN = re.compile(
    r"""
    (?P<comment>\#[^\n]*)
    | (?P<string>(?i:[rbuf]{0,2})(?:'''(?:\\.|[^\\])*?'''|\"\"\"(?:\\.|[^\\])*?\"\"\"|'(?:\\.|[^\\'\n])*'|"(?:\\.|[^\\"\n])*"))
    | (?P<name>[^\W\d]\w*)
    | (?P<number>0[xXoObB][\da-fA-F_]+|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?[jJ]?)
    | (?P<open>[(\[{])
    | (?P<close>[)\]}])
    | (?P<newline>\n)
    | (?P<space>[^\S\n]+)
    | (?P<other>[^\w\s'"\#()\[\]{}\\]+)
    """,
    re.VERBOSE | re.DOTALL,
)
"""The tokens of Python source as far as laying it out needs them; a character none of them
matches (a line continuation, a stray quote) makes :func:`rows` refuse the module."""

SIGNIFICANT = frozenset({"comment", "string", "name", "number"})
"""Black keeps these tokens and their order; it only adds or drops brackets, commas and space."""

_CLAUSES = frozenset({"else", "elif", "except", "finally"})
_KEPT_NAMES = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)
_PLAIN_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_PLAIN_DOCSTRING = re.compile(r'"""[^\s"\\](?:[^"\\\n]*[^\s"\\])?"""')
"""A one-line docstring black leaves as it is: no quote or backslash inside, no space at its ends."""
_PRAGMAS = ("# type:", "# noqa", "# pylint:")


class Unsupported(Exception):
    """The module uses something the statement-by-statement path does not handle."""


class Row(NamedTuple):
    """A logical line (``indent`` >= 0) or a blank or comment line (``indent`` -1) of the module.

    ``loose`` and ``exact`` are its skeletons, which share ``slots`` (the indices, among its
    ``count`` significant tokens, of the replaced ones) and ``values`` (what black writes for
    each). ``flat``: it is one line of text; ``long``: wider than the line length.
    """

    text: str
    loose: str
    exact: str
    values: tuple[str, ...]
    slots: tuple[int, ...]
    count: int
    flat: bool
    long: bool
    indent: int
    first: str
    first_kind: str


class Unit(NamedTuple):
    """The rows ``start:end`` of one statement and the rows of its context."""

    start: int
    end: int
    context: tuple[int, ...]


def rows(text: str, mode: black.Mode) -> list[Row]:
    """The rows of ``text``, each with its skeletons.

    Raise :class:`Unsupported` for a character outside the tokens (a line continuation), a
    comment that directs black (``fmt:``, ``yapf:``), or text that does not end a line.
    """
    if "\r" in text or "\f" in text or "\t" in text or "__future__" in text:
        raise Unsupported("carriage returns, form feeds, tabs or future imports")
    found = []
    position = row_start = depth = count = 0
    loose, exact, values, slots, first = [], [], [], [], None
    line_start = statement_start = flat = True
    in_import = False
    for match in TOKEN.finditer(text):
        kind, word = match.lastgroup, match.group()
        if match.start() != position:
            raise Unsupported(f"unexpected character at offset {position}")
        position = match.end()
        if kind == "space":
            loose.append(word)
            exact.append(word)
            continue
        if kind == "newline":
            loose.append(word)
            exact.append(word)
            line_start = True
            if depth:
                flat = False
                continue
            row = text[row_start:position]
            found.append(
                Row(
                    row,
                    "".join(loose),
                    "".join(exact),
                    tuple(values),
                    tuple(slots),
                    count,
                    flat,
                    str_width(row[:-1]) > mode.line_length,
                    -1 if first is None else first[1] - row_start,
                    "" if first is None else first[0],
                    "" if first is None else first[2],
                )
            )
            row_start, count, loose, exact, values, slots, first = position, 0, [], [], [], [], None
            statement_start = flat = True
            in_import = False
            continue
        if first is None and kind != "comment":
            first = (word, match.start(), kind)
            in_import = word in ("import", "from")
        placeholders = None
        if kind in SIGNIFICANT:
            if kind == "comment" and ("fmt:" in word or "yapf:" in word):
                raise Unsupported("a comment directs black")
            if not in_import:
                placeholders = _placeholders(kind, word, mode, line_start and not depth, statement_start)
            if placeholders is not None:
                slots.append(count)
                values.append(placeholders[2])
            count += 1
            flat = flat and "\n" not in word
        elif kind == "open":
            depth += 1
        elif kind == "close":
            depth -= 1
        line_start = False
        statement_start = statement_start and kind == "comment"
        loose.append(word if placeholders is None else placeholders[0])
        exact.append(word if placeholders is None else placeholders[1])
    if position != len(text) or loose:
        raise Unsupported("the text does not end with a complete line")
    return found


def _placeholders(
    kind: str, word: str, mode: black.Mode, own_line: bool, statement_start: bool
) -> tuple[str, str, str] | None:
    """(loose placeholder, exact placeholder, value) for one significant token, or None to keep it."""
    if kind == "name":
        return None if word in _KEPT_NAMES else ("Z", "Z" * len(word), word)
    if kind == "number":
        return ("1", "1" * len(word), word) if _PLAIN_NUMBER.fullmatch(word) else None
    if kind == "string" and statement_start:
        if _PLAIN_DOCSTRING.fullmatch(word) and word.isprintable():
            return '"""Y"""', '"""' + "Y" * (len(word) - 6) + '"""', word
        return None  # a docstring, or what black might take for one, that black would change
    if kind == "string":
        value = _plain_string(word, mode)
        return None if value is None else ('"Y"', '"' + "Y" * (len(value) - 2) + '"', value)
    if own_line and word.startswith("# ") and word == word.rstrip() and word.isprintable():
        return None if word.startswith(_PRAGMAS) else ("# Z", "# Z", word)
    return None


@lru_cache(maxsize=4096)
def _plain_string(text: str, mode: black.Mode) -> str | None:
    """A string literal as black writes it outside a docstring, if it can be replaced: not one
    with a prefix, over several lines, with wide characters, or that black would write anew."""
    value = _black_string(text, mode)
    if value[0] not in "'\"" or value[:3] in ('"""', "'''") or _black_string(value, mode) != value:
        return None
    return value if str_width(value) == len(value) else None


def _black_string(text: str, mode: black.Mode) -> str:
    """A string literal as black writes it outside a docstring."""
    leaf = Leaf(token.STRING, text)
    normalize_unicode_escape_sequences(leaf)
    if mode.string_normalization:
        return normalize_string_quotes(normalize_string_prefix(leaf.value, mode))
    return leaf.value


def units(found: list[Row]) -> list[Unit]:
    """The units of a module's rows: its top-level statements, with the body of a top-level
    function of several statements split into one unit per statement (the first kept with the
    header), each with its context.

    Raise :class:`Unsupported` when the rows have something this does not handle.
    """
    code = [index for index, row in enumerate(found) if row.indent >= 0]
    if not code or found[code[0]].indent:
        raise Unsupported("no statement at the top level")
    starts, contexts, previous = [], [], []
    for lo, hi in _statements(found, code, 0, len(code)):
        body = _statements(found, code, lo + 1, hi) if hi - lo > 2 and found[code[lo]].first == "def" else []
        split = len(body) > 1 and found[code[lo + 1]].indent == 4
        starts.append(code[lo - 1] + 1 if lo else 0)
        contexts.append(tuple(previous))
        for (before_lo, before_hi), (body_lo, _) in zip(body, body[1:]) if split else ():
            starts.append(code[body_lo - 1] + 1)
            contexts.append((code[lo],) + _reduced(found, code, before_lo, before_hi))
        previous = _reduced(found, code, lo, hi)
    ends = starts[1:] + [len(found)]
    return [Unit(start, end, context) for start, end, context in zip(starts, ends, contexts)]


def _statements(found: list[Row], code: list[int], lo: int, hi: int) -> list[tuple[int, int]]:
    """The statements among the logical lines ``code[lo:hi]`` at the indentation of the first,
    each as a range of positions in ``code`` (a clause such as ``else:`` belongs to the
    statement before it)."""
    indent, starts = found[code[lo]].indent, []
    for position in range(lo, hi):
        row = found[code[position]]
        if row.indent == indent and row.first not in _CLAUSES:
            if row.first == "@":
                raise Unsupported("decorators")
            starts.append(position)
    return list(zip(starts, starts[1:] + [hi]))


def _reduced(found: list[Row], code: list[int], lo: int, hi: int) -> tuple[int, ...]:
    """The rows of what the statement ``code[lo:hi]`` leaves behind for black: the statement
    itself, or for a function, its header and its last statement reduced in turn."""
    whole = tuple(range(code[lo], code[hi - 1] + 1))
    if hi - lo == 1 or found[code[lo]].first != "def":
        return whole
    body = _statements(found, code, lo + 1, hi)
    last_lo, last_hi = body[-1]
    last = found[code[last_lo]]
    if len(body) > 1 and last_hi - last_lo == 1 and (last.first_kind == "string" or last.first == "..."):
        return whole  # reduced, it would become a docstring or a stub body
    return (code[lo],) + _reduced(found, code, last_lo, last_hi)
