"""Property: mutated configs and tick files never give a traceback, never hang, and never make
mdp write outside the paths the config names.

Configs are mutated in-process (cheap, many examples): compiling either succeeds or raises
:class:`DiagnosticError`. Tick files are mutated and run through the real ``mdp run`` in a
private directory (a few examples, each a subprocess): the job ends within a bound with exit
0 or 1, prints no traceback, and leaves only the files its config names.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import tempfile
import threading
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.diagnostics import DiagnosticError
from compiler.driver import compile_text
from tests.support.jobs import CONFIGS, MDP, REPO

COMPILE_BOUND_S = 30
RUN_BOUND_S = 60
CONFIG_TEXTS = sorted(
    (path.relative_to(REPO).as_posix(), path.read_text(encoding="utf-8"))
    for path in [*CONFIGS.rglob("*.yaml"), *(REPO / "tests" / "golden").glob("*/config.yaml")]
)
HUGE = ["99999999999999999999999", "-1", "1e309", ".nan", "-.inf", "0", "2**64", "'${X}'", "[]", "{}", "~"]


def _splice(text: str, at: int, cut: int, insert: str) -> str:
    at = min(at, len(text))
    return text[:at] + insert + text[at + cut :]


@st.composite
def mutated_configs(draw) -> tuple[str, str]:
    """A checked-in config with one hostile edit: random bytes, a cut, a huge or odd value, or
    a deeply nested value."""
    file, text = draw(st.sampled_from(CONFIG_TEXTS))
    at = draw(st.integers(0, len(text)))
    kind = draw(st.sampled_from(["bytes", "truncate", "value", "nesting"]))
    if kind == "bytes":
        noise = draw(
            st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
        )
        return file, _splice(text, at, draw(st.integers(0, 8)), noise)
    if kind == "truncate":
        return file, text[:at]
    if kind == "value":
        values = [
            i for i, line in enumerate(text.splitlines()) if ": " in line and not line.strip().startswith("#")
        ]
        lines = text.splitlines()
        i = draw(st.sampled_from(values))
        key = lines[i].split(": ", 1)[0]
        lines[i] = f"{key}: {draw(st.sampled_from(HUGE))}"
        return file, "\n".join(lines) + "\n"
    depth = draw(st.sampled_from([50, 400, 3000]))
    return file, _splice(text, at, 0, "[" * depth + "1" + "]" * depth)


def _compile_bounded(file: str, text: str) -> BaseException | None:
    """Compile in a thread; return the exception it raised (None on success); fail on a hang."""
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            compile_text(file, text)
            outcome.append(None)
        except BaseException as exc:  # the test judges every outcome
            outcome.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(COMPILE_BOUND_S)
    assert not worker.is_alive(), f"compiling a mutated {file} did not finish in {COMPILE_BOUND_S} s:\n{text}"
    return outcome[0]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_configs())
def test_a_mutated_config_compiles_or_gets_diagnostics(case):
    file, text = case
    error = _compile_bounded(file, text)
    if isinstance(error, DiagnosticError):
        assert error.diagnostics, "a DiagnosticError must carry at least one diagnostic"
        for diagnostic in error.diagnostics:
            assert diagnostic.span.line >= 1 and diagnostic.span.column >= 1
            assert diagnostic.message
    else:
        assert error is None, f"{type(error).__name__}: {error} compiling a mutated {file}:\n{text}"


RUN_CONFIG = """\
name: hostile
dag:
  nodes:
    - {id: ticks, type: provider.replay, params: {path: data/ticks.csv}}
    - {id: liquid, type: operator.filter, params: {where: "size >= 100"}}
    - {id: bars, type: operator.resample_ohlc, params: {window: 1m}}
    - {id: store, type: sink.store, params: {url: "sqlite:///out/bars.db"}}
    - {id: lines, type: sink.jsonl, params: {path: out/bars.jsonl}}
  edges: [[ticks, liquid], [liquid, bars], [bars, store], [bars, lines]]
"""
NAMED_FILES = {"job.yaml", "data", "data/ticks.csv", "out", "out/bars.db", "out/bars.jsonl"}
with gzip.open(CONFIGS / "data" / "sample_ticks.csv.gz", "rb") as _sample:
    SAMPLE = b"".join(_sample.readline() for _ in range(400))


@st.composite
def mutated_ticks(draw) -> bytes:
    """The first rows of the bundled tick file with hostile edits: flipped bytes, a cut, huge,
    negative or non-finite numbers, timestamps in other units, a BOM."""
    rows = SAMPLE.split(b"\n")
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["bytes", "truncate", "cell", "bom", "long"]))
        if len(rows) < 3:
            break  # cut down to the header: nothing left to edit
        i = draw(st.integers(1, len(rows) - 2))
        if kind == "bytes":
            rows[i] = draw(st.binary(min_size=1, max_size=40))
        elif kind == "truncate":
            rows = rows[: i + 1]
            rows[-1] = rows[-1][: draw(st.integers(0, len(rows[-1])))]
        elif kind == "cell":
            cells = rows[i].split(b",")
            column = draw(st.integers(0, len(cells) - 1))
            cells[column] = draw(
                st.sampled_from(
                    [b"9" * 30, b"-5", b"nan", b"inf", b"1710509400", b"1710509400000", b"", b"1e400", b"-0"]
                )
            )
            rows[i] = b",".join(cells)
        elif kind == "bom":
            rows[0] = b"\xef\xbb\xbf" + rows[0].lstrip(b"\xef\xbb\xbf")
        else:
            rows[i] = rows[i] + b"9" * draw(st.sampled_from([10_000, 3_000_000]))
    return b"\n".join(rows)


def _files_below(root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in root.rglob("*")}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_ticks())
def test_a_mutated_tick_file_never_gives_a_traceback_or_strays(data):
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        work, home = scratch / "work", scratch / "home"
        (work / "data").mkdir(parents=True)
        home.mkdir()
        (work / "job.yaml").write_text(RUN_CONFIG, encoding="utf-8")
        (work / "data" / "ticks.csv").write_bytes(data)
        env = {**os.environ, "HOME": str(home), "MDP_CACHE_DIR": str(scratch / "cache")}
        env.pop("MDP_UNIFIED_CONFIG", None)
        try:
            result = subprocess.run(
                [MDP, "run", "job.yaml"],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=RUN_BOUND_S,
            )
        except subprocess.TimeoutExpired:
            raise AssertionError(f"mdp run on a mutated tick file took over {RUN_BOUND_S} s") from None
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode in (0, 1), (result.returncode, result.stderr)
        if result.returncode == 1:
            assert "error: " in result.stderr, result.stderr
        assert _files_below(work) <= NAMED_FILES, _files_below(work) - NAMED_FILES
        assert (work / "data" / "ticks.csv").read_bytes() == data, "the input was changed"
        assert _files_below(home) == set(), "the job wrote below HOME"
