"""The code, tests and lessons are ruff-clean and ruff-formatted."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ["cae_keras", "tests", "notebooks", "benchmarks"]


def ruff(*args):
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if exe is None:
        pytest.fail("ruff is not installed (it is in requirements-dev.txt)")
    return subprocess.run([exe, *args, *TARGETS], cwd=ROOT, capture_output=True, text=True)


def test_ruff_check():
    result = ruff("check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format():
    result = ruff("format", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
