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
