"""Running test files again under another Keras backend, in a subprocess
(Keras fixes its backend at import)."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_on_backend(backend, files):
    """Run `files` with pytest under `backend`; skip, saying why, where the
    backend is not installed; fail with pytest's summary otherwise."""
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed (pip install {backend} to run these tests)")
    env = dict(os.environ, KERAS_BACKEND=backend)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow", *files],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    summary = result.stdout.strip().splitlines()[-1:] or ["(no output)"]
    assert result.returncode == 0, f"{backend}: {summary[0]}\n{result.stdout[-4000:]}"
    assert " passed" in summary[0] and "failed" not in summary[0], summary[0]
