"""The layer, kernel and model tests again under JAX and PyTorch.

Keras fixes its backend at import, so each backend runs the same test files
in its own Python process. JAX is in requirements-dev.txt; PyTorch is large and
optional, so its run is skipped, with the reason, where it is not installed.
The property-based tests run the same way from `test_backends_properties.py`,
a module of their own so that a second test worker can take them.
"""

import pytest

from tests.backend_runs import run_on_backend

FILES = [
    "tests/test_max_unpooling.py",
    "tests/test_max_pooling_with_positions.py",
    "tests/test_tied.py",
    "tests/test_models.py",
    "tests/test_vae.py",
    "tests/test_metrics.py",
    "tests/test_export_jax.py",
]


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_layer_and_model_tests_pass_on_backend(backend):
    run_on_backend(backend, FILES)
