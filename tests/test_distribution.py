"""Data-parallel training with Keras' distribution API: two virtual CPU
devices give the losses of one device, step by step, for the same seed and
global batch (JAX, in a subprocess: its devices are fixed when it starts)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from cae_keras import segment

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import json, sys
import numpy as np, keras
from cae_keras import data, segment

class Losses(keras.callbacks.Callback):
    def __init__(self):
        super().__init__(); self.values = []
    def on_train_batch_end(self, batch, logs=None):
        self.values.append(float(logs["loss"]))

rng = np.random.default_rng(0)
x = np.zeros((40, 28, 28), "float32"); x[:, 8:20, 10:18] = rng.random((40, 12, 8))
scenes, masks = data.digit_scenes(x, rng.integers(0, 10, 40), 32, 32, seed=0)
runs = {}
for devices in (None, 2):
    losses = Losses()
    keras.utils.set_random_seed(0)
    segment._run_model(
        "segnet", (scenes, masks), {}, epochs=2, batch_size=8, devices=devices,
        widths=(8, 16), convs=1, callbacks=[losses],
    )
    runs[str(devices)] = losses.values
print(json.dumps({"devices": len(keras.distribution.list_devices()), "runs": runs}))
"""


def test_two_virtual_devices_train_as_one():
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_NUM_CPU_DEVICES="2", JAX_PLATFORMS="cpu")
    result = subprocess.run(
        [sys.executable, "-c", CHILD],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["devices"] == 2
    one, two = report["runs"]["None"], report["runs"]["2"]
    assert len(one) == len(two) == 8  # 4 steps per epoch, 2 epochs
    assert one[0] > one[-1]  # it trains
    for a, b in zip(one, two):
        assert b == pytest.approx(a, rel=1e-4, abs=1e-5)


def test_devices_are_refused_where_the_distribution_api_does_not_run():
    if keras.backend.backend() == "jax":
        pytest.skip("this process runs JAX, where several devices are allowed")
    with pytest.raises(ValueError, match="runs on JAX only"):
        segment.check_devices(2)
    assert segment.check_devices(None) is None and segment.check_devices(1) is None
    with pytest.raises(ValueError, match="`devices` must be a positive integer or 'all'"):
        segment.check_devices(0)
