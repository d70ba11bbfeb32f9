import os

import pytest

# Keep TensorFlow quiet and off any GPU a developer's machine may have.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")


@pytest.fixture(autouse=True)
def _clean_keras_state():
    import keras

    yield
    keras.backend.clear_session()
    keras.config.set_dtype_policy("float32")


# Hypothesis: the same examples on every run (CI stays reproducible, no
# example database written into the clone); HYPOTHESIS_PROFILE=explore draws
# fresh ones, five times as many, to search further.
try:
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, database=None, deadline=None)
    settings.register_profile("explore", database=None, deadline=None, max_examples=500)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # the property tests then fail at import, saying so
    pass


# The full run only: lessons (papermill and nbval), the jobs and their commands
# (they train), the other backends' processes and the wheel. `pytest -m "not
# full"` is the fast loop (docs/testing.md).
FULL_MODULES = {
    "test_lessons_tensorflow.py",
    "test_lessons_jax.py",
    "test_lessons_bad_parameters.py",
    "test_backends.py",
    "test_backends_properties.py",
    "test_packaging.py",
    "test_reproduce.py",
    "test_anomaly.py",
    "test_fewlabels.py",
    "test_segment.py",
    "test_distribution.py",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        # A `slow` test trains on the full data: the full run's too.
        slow = item.get_closest_marker("slow") is not None
        if item.path.name in FULL_MODULES or item.path.suffix == ".ipynb" or slow:
            item.add_marker(pytest.mark.full)
