"""The layer, kernel and model tests again under JAX and PyTorch.

Keras fixes its backend at import, so each backend runs the same test files
in its own Python process. JAX is in requirements.txt; PyTorch is large and
optional, so its run is skipped, with the reason, where it is not installed.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FILES = [
    "tests/test_max_unpooling.py",
    "tests/test_tied.py",
    "tests/test_models.py",
    "tests/test_vae.py",
    "tests/test_properties.py",
]


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_layer_and_model_tests_pass_on_backend(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed (pip install {backend} to run these tests)")
    env = dict(os.environ, KERAS_BACKEND=backend)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow", *FILES],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    summary = result.stdout.strip().splitlines()[-1:] or ["(no output)"]
    assert result.returncode == 0, f"{backend}: {summary[0]}\n{result.stdout[-4000:]}"
    assert " passed" in summary[0] and "failed" not in summary[0], summary[0]
