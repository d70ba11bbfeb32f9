"""Every lesson runs again under JAX, in its own kernel."""

import json

import pytest

from tests.lesson_runs import LESSONS, object_addresses, run_lesson, stderr_lines

# One run per lesson under JAX, small settings: every lesson runs on every backend.
JAX_RUNS = [
    ("01_conv2d.ipynb", {}),
    ("02_conv2d_transpose.ipynb", {}),
    ("03_max_unpooling.ipynb", {"n_digits": 2}),
    ("04_cntk_autoencoder.ipynb", {"epochs": 1, "limit": 300}),
    ("05_cntk_comparison.ipynb", {"variants": ["cmap1_pool4", "two_layer"], "limit": 300}),
    ("06_latent_space.ipynb", {"digits": 7, "epochs": 1, "limit": 300}),
    ("07_tied_weights.ipynb", {"epochs": 1, "limit": 300}),
    ("08_denoising_anomaly.ipynb", {"epochs": 1, "anomaly_epochs": 1, "limit": 300}),
    ("09_variational_autoencoder.ipynb", {"epochs": 1, "limit": 300}),
    (
        "10_segmentation.ipynb",
        {"scenes": 96, "test_scenes": 4, "eval_sizes": [[32, 32], [61, 83]]},
    ),
    ("11_few_labels.ipynb", {"labels": [20], "draws": 1, "limit": 300, "steps": 20}),
]


def test_every_lesson_runs_under_jax_in_the_tests():
    assert sorted(name for name, _ in JAX_RUNS) == LESSONS


@pytest.mark.parametrize("name,parameters", JAX_RUNS, ids=[n for n, _ in JAX_RUNS])
def test_lesson_runs_under_jax(tmp_path, monkeypatch, name, parameters):
    pytest.importorskip("jax", reason="JAX is not installed")
    monkeypatch.setenv("KERAS_BACKEND", "jax")  # the kernel inherits it
    executed, out_dir = run_lesson(tmp_path, name, parameters)
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["backend"] == "jax"
    assert stderr_lines(executed) == []
    assert object_addresses(executed) == []
    text = json.dumps([c.get("outputs", []) for c in executed.cells])
    if name.startswith("03"):
        assert "Skipped: tf.nn.max_pool_with_argmax is TensorFlow's; this is jax." in text
        assert metrics["switches_equal_recomputed"] is None
        assert metrics["gradient_equals_unpooling"] is True
    if name.startswith("02"):
        assert metrics["gradient_equals_transpose"] is True
    if name.startswith("06"):
        assert metrics["digits"] == [7]
    if name.startswith("10"):
        assert [r["model"] for r in metrics["summary"]] == ["segnet", "upsample", "unet"]
        assert "dec1_unpool 61x83" in text
