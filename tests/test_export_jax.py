"""Export from JAX: a SegNet with stored positions as a SavedModel (jax2tf), at a
fixed size, reloaded by TensorFlow in a fresh process with equal predictions.

Runs under JAX only (`tests/test_backends.py` runs it there); the TensorFlow
export rows are in `tests/test_segment.py`.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from cae_keras import models

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="exports from the JAX backend"
)

RELOAD = """
import sys, numpy as np, tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])  # held: `.serve` needs the object alive
np.save(sys.argv[3], loaded.serve(np.load(sys.argv[2])).numpy())
"""


def test_segnet_saved_model_at_a_fixed_size_reloads_in_tensorflow(tmp_path):
    pytest.importorskip("tensorflow")
    keras.utils.set_random_seed(0)
    model = models.segmentation_model("segnet")
    scenes = np.random.default_rng(0).random((2, 61, 83, 1)).astype("float32")
    model.export(
        tmp_path / "saved",
        verbose=False,
        input_signature=[keras.InputSpec(shape=scenes.shape, dtype="float32")],
    )
    np.save(tmp_path / "x.npy", scenes)
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    subprocess.run(
        [sys.executable, "-c", RELOAD, tmp_path / "saved", tmp_path / "x.npy", tmp_path / "y.npy"],
        check=True,
        capture_output=True,
        env=env,
        timeout=300,
    )
    want = keras.ops.convert_to_numpy(model(scenes, training=False))
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, atol=1e-5)
