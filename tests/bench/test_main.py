"""``python -m bench``: the benchmarks run from a source checkout, not through the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_lists_the_benchmarks() -> None:
    result = _bench("--help")
    assert result.returncode == 0, result.stderr
    for name in ("generation", "context", "load", "model-speed", "poems", "quality"):
        assert f"  {name} " in result.stdout


def test_a_benchmark_explains_its_options() -> None:
    result = _bench("model-speed", "--help")
    assert result.returncode == 0, result.stderr
    assert "--quick" in result.stdout and "python -m bench model-speed" in result.stdout


def test_an_unknown_benchmark_says_what_exists() -> None:
    result = _bench("nope")
    assert result.returncode == 2
    assert "unknown benchmark 'nope'" in result.stderr and "quality" in result.stderr
