"""Benchmark: start-up time of the ``mdp`` command line against importing typer.

Runs ``python -c "import typer"``, ``mdp --help``, ``mdp list`` and ``mdp validate
configs/dag/bars.yaml`` from the repository root, one of each per round (interleaved, so a busy
machine slows all alike), after one warm-up round that is not counted. Prints each command's
median wall time and its ratio to ``import typer``; the target is a ratio of at most 3.0 for
every ``mdp`` command. ``mdp list`` reads the job records of ``$MDP_STATE_DIR`` (or the user's
state folder) as it finds them.

The commands run with a private bytecode cache (``PYTHONPYCACHEPREFIX`` in a temporary
directory, filled by the warm-up round), as an installed copy runs from compiled ``.pyc``
files, even where ``PYTHONDONTWRITEBYTECODE`` is set. ``--as-is`` keeps the environment as it
is: with ``PYTHONDONTWRITEBYTECODE`` and no ``__pycache__`` in the checkout, every run then
compiles each of mdp's modules from source.

    python bench/cli.py [--runs N] [--as-is]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(sys.executable).parent / "mdp"
MDP = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "compiler.cli"]
BASELINE = ("import typer", [sys.executable, "-c", "import typer"])
COMMANDS = (
    BASELINE,
    ("mdp --help", [*MDP, "--help"]),
    ("mdp list", [*MDP, "list"]),
    ("mdp validate configs/dag/bars.yaml", [*MDP, "validate", "configs/dag/bars.yaml"]),
)
TARGET = 3.0


def cached_env(cache_dir: str) -> dict[str, str]:
    """This environment with bytecode written to, and read from, ``cache_dir``."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": cache_dir}


def wall_time(argv: list[str], env: dict[str, str]) -> float:
    """Seconds from starting ``argv`` to its exit; a failing command stops the benchmark."""
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {result.returncode}:\n{result.stderr}")
    return elapsed


def interleaved(runs: int, env: dict[str, str]) -> dict[str, list[float]]:
    """Wall times of every command, ``runs`` rounds of one run each, after a warm-up round."""
    times: dict[str, list[float]] = {label: [] for label, _ in COMMANDS}
    for round_number in range(runs + 1):
        for label, argv in COMMANDS:
            elapsed = wall_time(argv, env)
            if round_number:
                times[label].append(elapsed)
    return times


def main() -> None:
    """Time the commands and print medians, ratios to ``import typer`` and the target."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--as-is", action="store_true", help="keep this environment's bytecode settings")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mdp-bench-pyc-") as cache_dir:
        env = dict(os.environ) if args.as_is else cached_env(cache_dir)
        times = interleaved(args.runs, env)
    medians = {label: statistics.median(runs) for label, runs in times.items()}
    baseline = medians[BASELINE[0]]
    width = max(len(label) for label in medians)
    cache = "environment as is" if args.as_is else "private bytecode cache"
    print(f"median of {args.runs} interleaved runs each, after one warm-up round ({cache})")
    for label, median in medians.items():
        ratio = median / baseline
        verdict = "" if label == BASELINE[0] else ("  ok" if ratio <= TARGET else "  over target")
        print(f"{label:<{width}} : {median * 1000:6.1f} ms  {ratio:4.2f}x{verdict}")
    print(f"target: each mdp command <= {TARGET:.1f}x import typer")


if __name__ == "__main__":
    main()
