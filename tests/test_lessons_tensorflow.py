"""Every lesson runs headless through papermill with small parameters on
TensorFlow, in a student's environment, with its Try next lines, and shows
nothing a student should not see."""

import json

import nbformat
import pytest

from tests.lesson_runs import (
    LESSONS,
    NOTEBOOKS,
    object_addresses,
    run_lesson,
    stderr_lines,
    try_next_cell,
)

RUNS = [
    ("01_conv2d.ipynb", {}, ["kernels.png"]),
    ("02_conv2d_transpose.ipynb", {}, ["checkerboard.png"]),
    ("03_max_unpooling.ipynb", {"n_digits": 2, "pool": 4}, ["unpool_vs_upsample.png"]),
    (
        "04_cntk_autoencoder.ipynb",
        {"epochs": 1, "limit": 1000},
        ["cntk_figure.png", "encoder_output.txt"],
    ),
    (
        "04_cntk_autoencoder.ipynb",
        {"cmap": 3, "pool": 2, "epochs": 1, "limit": 500},
        ["cntk_figure.png"],
    ),
    (
        "05_cntk_comparison.ipynb",
        {
            "variants": ["cmap1_pool4", "cmap1_pool4_upsample"],
            "recipe": "cntk",
            "loss": "mse",
            "epochs": 1,
            "limit": 500,
        },
        ["comparison.png", "loss_curves_1.png", "loss_curves_2.png"],
    ),
    (
        "06_latent_space.ipynb",
        {"epochs": 1, "limit": 1000},
        ["latent_scatter.png", "latent_manifold.png"],
    ),
    (
        "06_latent_space.ipynb",
        {"digits": [0, 7], "latent_dim": 3, "epochs": 1, "limit": 500},
        ["latent_scatter.png"],
    ),
    ("07_tied_weights.ipynb", {"epochs": 1, "limit": 500}, ["tied_vs_untied.png"]),
    (
        "08_denoising_anomaly.ipynb",
        {"epochs": 1, "anomaly_epochs": 1, "limit": 600, "held_out": 1},
        ["denoising.png", "score_histograms.png", "roc_curve.png", "extremes.png"],
    ),
    (
        "09_variational_autoencoder.ipynb",
        {"epochs": 1, "limit": 600, "beta": 2.0},
        ["latent_scatter.png", "latent_manifold.png", "prior_samples.png"],
    ),
    (
        "10_segmentation.ipynb",
        {"scenes": 192, "test_scenes": 6, "eval_sizes": [[32, 32], [61, 83]]},
        ["scenes.png", "masks_61x83.png", "iou.png"],
    ),
    (
        "10_segmentation.ipynb",
        {
            "models": ["segnet"],
            "seeds": [0, 1],
            "scenes": 64,
            "size": 40,
            "digits": [2, 3],
            "test_scenes": 4,
            "eval_sizes": [[61, 83]],
            "balance": 0.0,
            "decay": False,
        },
        ["scenes.png", "masks_61x83.png", "iou.png"],
    ),
    (
        "11_few_labels.ipynb",
        {"labels": [20, 40], "draws": 2, "limit": 600, "steps": 20, "pca_dims": 4},
        ["reconstructions.png", "accuracy.png"],
    ),
]


def test_every_lesson_is_run_by_a_test():
    assert LESSONS == sorted({name for name, _, _ in RUNS})
    assert len(LESSONS) == 11


@pytest.mark.parametrize(
    "name,parameters,files", RUNS, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(RUNS)]
)
def test_lesson_runs_headless_with_papermill(tmp_path, name, parameters, files):
    first_run = next(p for n, p, _ in RUNS if n == name) is parameters
    lesson = nbformat.read(NOTEBOOKS / name, as_version=4)
    overrides = {**parameters, "output_dir": str(tmp_path / "try_next")}
    extra = [try_next_cell(lesson, overrides)] if first_run else []
    executed, out_dir = run_lesson(tmp_path, name, parameters, extra)
    for file in files:
        assert (out_dir / file).stat().st_size > 200, file
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["backend"] == "tensorflow"
    # What a student sees live, stderr included: no "failed call to cuInit", no
    # oneDNN or XLA notes, no warnings, no object addresses.
    assert stderr_lines(executed) == []
    assert object_addresses(executed) == []
    if first_run:
        assert "try next: all ran" in json.dumps(executed.cells[-1].outputs)
    text = json.dumps([c.get("outputs", []) for c in executed.cells])
    if name.startswith("04"):
        assert (
            metrics["cmap"] == parameters["cmap"] if "cmap" in parameters else metrics["cmap"] == 1
        )
        assert 0 < metrics["ours_test_rmse"] < 0.5 and 0 < metrics["cntk_recipe_test_rmse"] < 0.5
        expected = "CNTK's published" if parameters.get("cmap", 1) == 1 else "publishes no RMSE"
        assert expected in text
    if name.startswith("05"):
        assert [r["variant"] for r in metrics["variants"]] == parameters["variants"]
        assert {r["recipe"] for r in metrics["variants"]} == {parameters["recipe"]}
        assert "positions, one layer: max unpooling, not upsampling" in text
        assert metrics["seed_noise"] >= 0
    if name.startswith("06"):
        assert metrics["digits"] == parameters.get("digits", [1, 5, 6])
        assert metrics["test_mse"] < 0.2
        if parameters.get("latent_dim", 2) > 2:
            assert "drawn for latent_dim = 2 only" in text
    if name.startswith("07"):
        assert metrics["untied"]["params"] - metrics["tied"]["params"] == 26400
    if name.startswith("08"):
        assert metrics["held_out"] == 1
        assert 8.5 < metrics["psnr_noisy"] < 10.5  # sigma 0.5, clipped: about 9.4 dB
        assert 0.0 <= metrics["auc"] <= 1.0
        assert abs(metrics["auc"] - metrics["keras_auc"]) < 0.01  # NumPy ROC vs Keras
    if name.startswith("09"):
        assert metrics["beta"] == 2.0 and metrics["vae_kl"] >= 0.0
        assert len(metrics["vae_code_std"]) == 2
    if name.startswith("10"):
        settings = metrics["settings"]
        expected_models = parameters.get("models", ["segnet", "upsample", "unet"])
        assert settings["models"] == expected_models
        assert [r["model"] for r in metrics["summary"]] == expected_models
        seeds = parameters.get("seeds", [0])
        assert all(r["seeds"] == seeds for r in metrics["summary"])
        assert len(metrics["runs"]) == len(expected_models) * len(seeds)
        sizes = ["x".join(map(str, s)) for s in parameters["eval_sizes"]]
        for run in metrics["runs"]:
            assert list(run["scores"]) == sizes
            for score in run["scores"].values():
                assert 0 <= score["miou"] <= 1 and 0 <= score["pixel_accuracy"] <= 1
                assert len(score["iou"]) == 11
        # Balancing: the weights the lesson printed are the ones it trained with.
        weights = metrics["class_weights"]
        if parameters.get("balance", 0.5) == 0.0:
            assert weights == [1.0] * 11
        else:
            assert weights[0] < 1 < min(weights[1:])
        # The odd size comes back exactly: unpooling without a crop, the twin with one.
        assert "dec1_unpool 61x83" in text and "dec1_upsample 62x84 -> dec1_crop 61x83" in text
        assert "reaches mIoU >= 0.6 on " in metrics["claim"]
        if len(seeds) > 1:
            assert f"at seed(s) {seeds}" in metrics["claim"]
    if name.startswith("11"):
        # Every classifier of every arm, objective and number of labels, with its spread.
        assert {(r["labels"], r["classifier"]) for r in metrics["summary"]} == {
            (n, c)
            for n in (20, 40)
            for c in (
                "scratch",
                "frozen (plain)",
                "fine-tuned (plain)",
                "frozen (denoising)",
                "fine-tuned (denoising)",
            )
        }
        assert all(
            r["runs"] == 2
            and 0 <= r["test_accuracy"][1] <= r["test_accuracy"][0] <= r["test_accuracy"][2] <= 1
            for r in metrics["summary"]
        )
        assert len(metrics["pca"]["angles_degrees"]) == 4
        assert metrics["pca"]["pca_mse"] <= metrics["pca"]["autoencoder_mse"] + 1e-6
