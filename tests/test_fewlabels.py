"""Lesson 11's pieces: the labelled draw, the classifier on an encoder, the
fixed budget with its choice on validation, and the table."""

import keras
import numpy as np
import pytest

from cae_keras import data, fewlabels, models


def test_labelled_draw_is_balanced_seeded_and_disjoint():
    labels = np.random.default_rng(0).integers(0, 10, 5000)
    train, val = data.labelled_draw(labels, 103, seed=4)
    assert len(train) + len(val) == 103 and not set(train) & set(val)
    counts = np.bincount(labels[np.r_[train, val]], minlength=10)
    assert sorted(counts.tolist()) == [10] * 7 + [11] * 3  # 103 = 10 x 10 + 3 left over
    for part in (train, val):
        assert set(labels[part].tolist()) == set(range(10))  # every digit in both
    again = data.labelled_draw(labels, 103, seed=4)
    np.testing.assert_array_equal(again[0], train)
    other = data.labelled_draw(labels, 103, seed=5)
    assert set(other[0]) != set(train)
    # A share of each class goes to validation: 2 of 10 or 11.
    assert np.bincount(labels[val], minlength=10).tolist() == [2] * 10


def test_labelled_draw_refuses_what_it_cannot_draw():
    labels = np.arange(100) % 10
    with pytest.raises(ValueError, match="`n` must be an integer of at least 20"):
        data.labelled_draw(labels, 15)
    with pytest.raises(ValueError, match="`n` must be an integer of at least 10"):
        data.labelled_draw(labels, 9, validation=0.0)
    with pytest.raises(ValueError, match="needs 11 images of class"):
        data.labelled_draw(labels, 110)
    with pytest.raises(ValueError, match="`labels` must be in 0..9"):
        data.labelled_draw(np.arange(30), 20)
    with pytest.raises(ValueError, match="`validation` must be a number in \\[0, 1\\)"):
        data.labelled_draw(labels, 20, validation=1.0)
    train, val = data.labelled_draw(labels, 10, validation=0.0)
    assert len(train) == 10 and len(val) == 0


def test_classifier_copies_the_encoder_and_freezes_it_when_asked():
    encoder = models.small_encoder(8)
    probe = models.classifier_on(encoder, trainable=False)
    tuned = models.classifier_on(encoder, trainable=True)
    for model in (probe, tuned):
        copy = model.get_layer("encoder")
        for mine, theirs in zip(copy.weights, encoder.weights):
            np.testing.assert_array_equal(
                keras.ops.convert_to_numpy(mine), keras.ops.convert_to_numpy(theirs)
            )
            assert mine is not theirs  # a copy: training one leaves the others alone
    assert len(probe.trainable_weights) == 2  # the head's kernel and bias
    assert len(tuned.trainable_weights) == 2 + len(encoder.trainable_weights)
    with pytest.raises(ValueError, match="`encoder` must be a keras.Model"):
        models.classifier_on(models.small_autoencoder(8))


def tiny_digits(n, seed):
    """Images whose class is written in the brightness of one row: learnable."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    x = rng.random((n, 28, 28, 1)).astype("float32") * 0.1
    x[np.arange(n), 2 * y + 4, :, 0] = 1.0
    return x, y


def test_pretraining_returns_the_autoencoder_and_one_history_over_its_epochs():
    x, _ = tiny_digits(32, 0)
    autoencoder, history = fewlabels._pretrain(x, "denoising", latent_dim=4, epochs=3)
    # One `fit` per epoch (new noise each time), one loss per epoch in one History.
    assert len(history.history["loss"]) == 3
    assert autoencoder.get_layer("encoder").output.shape == (None, 4)


def test_frozen_arm_trains_the_head_only_and_keeps_the_best_validation_weights():
    x, y = tiny_digits(60, 0)
    x_val, y_val = tiny_digits(20, 1)
    encoder = models.small_encoder(16)
    before = [keras.ops.convert_to_numpy(w).copy() for w in encoder.weights]
    model, history = fewlabels._train_classifier(
        "frozen",
        x,
        y,
        x_val,
        y_val,
        encoder=encoder,
        steps=100,
        evaluations=5,
        batch_size=10,
        learning_rate=1e-2,
    )
    frozen = model.get_layer("encoder")
    for w, b in zip(frozen.weights, before):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(w), b)
    # The weights kept are those that scored best.
    val_accuracy = max(history.history["val_accuracy"])
    assert fewlabels.accuracy(model, x_val, y_val) == pytest.approx(val_accuracy)
    assert val_accuracy > 0.3  # ten classes: chance is 0.1


def test_summary_table_gives_mean_and_range_over_draws():
    records = [
        {"labels": 100, "draw": d, "arm": arm, "objective": obj, "test_accuracy": acc}
        for d, accs in enumerate([(0.70, 0.60), (0.80, 0.64)])
        for (arm, obj), acc in zip([("scratch", None), ("frozen", "plain")], accs)
    ]
    rows = fewlabels.summarize(records + [{"arm": "pretraining", "objective": "plain"}])
    scratch = next(r for r in rows if r["classifier"] == "scratch")
    assert scratch["test_accuracy"] == pytest.approx([0.75, 0.7, 0.8]) and scratch["runs"] == 2
    table = fewlabels.format_table(rows)
    assert "frozen (plain)" in table.splitlines()[0]
    assert "0.750 (0.700-0.800)" in table and "0.620 (0.600-0.640)" in table


def test_fewlabels_command_publishes_table_figure_and_results(tmp_path, capsys):
    import json

    from cae_keras import cli, publish

    out = tmp_path / "out"
    argv = ["fewlabels", "--labels", "20", "30", "--seeds", "0", "1", "--epochs", "1"]
    argv += ["--steps", "10", "--limit", "300", "--objectives", "plain", "--out", str(out)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert {"table.txt", "accuracy.png"} <= set(results["files"])
    assert (publish.latest(out) / "table.txt").read_text().strip() in printed
    assert results["settings"]["labels"] == [20, 30] and results["train_images"] == 300
    classifiers = {(r["labels"], r["classifier"]) for r in results["summary"]}
    assert classifiers == {
        (n, c) for n in (20, 30) for c in ("scratch", "frozen (plain)", "fine-tuned (plain)")
    }
    tested = [r for r in results["runs"] if r["arm"] != "pretraining"]
    assert len(tested) == 2 * 2 * 3 and all(0 <= r["test_accuracy"] <= 1 for r in tested)


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--labels", "10"], "error: --labels: expected an integer from 20 to 60000, got '10'"),
        (["--labels", "20", "20"], "error: --labels: "),
        (["--steps", "15"], "error: --steps: "),
        (["--seeds", "4", "4"], "error: --seeds: "),
        (["--objectives", "vae"], "error: --objectives: invalid choice: 'vae'"),
        (["--limit", "100", "--labels", "90"], "error: --labels: "),
    ],
)
def test_fewlabels_command_refuses_bad_values_before_training(argv, message, capsys, monkeypatch):
    from cae_keras import cli

    monkeypatch.setattr(fewlabels, "_pretrain", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(SystemExit) as exit_:
        cli.main(["fewlabels", *argv])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_linear_autoencoder_finds_the_principal_subspace():
    # Data on a 3-dimensional subspace plus a little noise: PCA's top 3
    # components span it, and so must a trained 3-number linear code.
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(784, 3)))[0]
    x = (rng.normal(size=(2000, 3)) * [3.0, 2.0, 1.0]) @ basis.T + 0.01 * rng.normal(
        size=(2000, 784)
    )
    x = (x - x.min()) / (x.max() - x.min())
    result = fewlabels.linear_autoencoder_vs_pca(
        x.reshape(-1, 28, 28, 1).astype("float32"), 3, epochs=30
    )
    assert max(result["angles_degrees"]) < 5.0
    assert result["pca_mse"] <= result["autoencoder_mse"] < 0.1 * result["mean_image_mse"]
    kept = (result["mean_image_mse"] - result["autoencoder_mse"]) / (
        result["mean_image_mse"] - result["pca_mse"]
    )
    assert result["captured"] == pytest.approx(kept) and 0.99 < kept <= 1.0
    # the variances along the components: the three of the subspace, then the noise's
    assert result["variances"][2] > 100 * result["variances"][3]
