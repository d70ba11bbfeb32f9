"""The property-based tests (`test_properties.py`) again under JAX and PyTorch."""

import pytest

from tests.backend_runs import run_on_backend


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_property_tests_pass_on_backend(backend):
    run_on_backend(backend, ["tests/test_properties.py"])
