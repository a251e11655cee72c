"""Every diagnostic exactly as the user sees it.

Each ``tests/fixtures/errors/<case>.yaml`` is checked with ``mdp validate`` (run in-process from
the repository root) and its whole stderr, the rendered diagnostics and the count line, must equal
``<case>.err``. A mismatch shows the diff; after an intended change, regenerate with
``pytest tests/compiler/test_errors.py --update-errors`` and review the new ``.err`` files before committing.
"""

from __future__ import annotations

import difflib
import traceback
from pathlib import Path

import pytest
from typer.testing import CliRunner

from compiler.cli import app

ROOT = Path(__file__).parents[2]
ERRORS = Path(__file__).parents[1] / "fixtures" / "errors"
MISSING_CONFIG = "config_missing"  # no .yaml on purpose: a config path that does not exist

CASES = sorted([p.stem for p in ERRORS.glob("*.yaml")] + [MISSING_CONFIG])


def validate_stderr(config: str) -> tuple[str, int]:
    """The stderr and exit status of ``mdp validate config``, run from the repository root."""
    result = CliRunner().invoke(app, ["validate", config])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        crash = "".join(traceback.format_exception(result.exception))
        pytest.fail(f"mdp validate {config} crashed instead of reporting diagnostics:\n{crash}")
    return result.stderr, result.exit_code


@pytest.mark.parametrize("case", CASES)
def test_diagnostics_match_err_file(case, request, monkeypatch):
    monkeypatch.chdir(ROOT)
    config = f"tests/fixtures/errors/{case}.yaml"
    assert (case == MISSING_CONFIG) != (ROOT / config).exists()
    actual, status = validate_stderr(config)
    expected_path = ERRORS / f"{case}.err"
    if request.config.getoption("--update-errors"):
        expected_path.write_text(actual, encoding="utf-8")
    if not expected_path.exists():
        pytest.fail(
            f"{expected_path.relative_to(ROOT)} is missing; write it with: "
            "pytest tests/compiler/test_errors.py --update-errors (then review it)"
        )
    expected = expected_path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(True),
                actual.splitlines(True),
                str(expected_path.relative_to(ROOT)),
                "mdp validate now",
            )
        )
        pytest.fail(
            f"diagnostics for {config} changed:\n{diff}\n"
            "If the change is intended, regenerate with: pytest tests/compiler/test_errors.py --update-errors"
        )
    assert status == (1 if ": error: " in expected else 0), f"exit status {status}"


@pytest.mark.parametrize("case", sorted(p.stem for p in ERRORS.glob("*.yaml")))
def test_fixture_says_what_it_shows(case):
    first = (ERRORS / f"{case}.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# title: ") and len(first) > len("# title: "), first


def test_every_err_file_has_a_case():
    orphans = sorted({p.stem for p in ERRORS.glob("*.err")} - set(CASES))
    assert not orphans, f"tests/fixtures/errors: .err files without a .yaml: {orphans}"
