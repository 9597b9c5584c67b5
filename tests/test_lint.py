"""The code passes the project's linter and is formatted (ruff.toml: pyflakes and pycodestyle
at 120 columns; black's style): run `ruff format .` and `ruff check .` before committing."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.skipif(
    shutil.which("ruff") is None and not (Path(sys.executable).parent / "ruff").exists(),
    reason="ruff is not installed (requirements.txt pins it)",
)
@pytest.mark.parametrize(
    "arguments", [["check", "--output-format", "concise"], ["format", "--check"]], ids=["check", "format"]
)
def test_ruff_finds_nothing(arguments):
    ruff = Path(sys.executable).parent / "ruff"
    command = [str(ruff) if ruff.exists() else "ruff", *arguments, str(ROOT)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
