"""Anomaly scores, the ROC curve and its AUC, noise and PSNR: hand-worked
examples, NumPy references and Keras' own AUC."""

import keras
import numpy as np
import pytest

from cae_keras import anomaly, data
from cae_keras.metrics import psnr_per_image


def test_roc_curve_by_hand():
    # Scores 0.9 (anomaly), 0.8 (normal), 0.3 (anomaly), 0.1 (normal).
    fpr, tpr, thresholds = anomaly.roc_curve([0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0])
    assert fpr.tolist() == [0, 0, 0.5, 0.5, 1] and tpr.tolist() == [0, 0.5, 0.5, 1, 1]
    assert thresholds[1:].tolist() == [0.9, 0.8, 0.3, 0.1]
    # 3 of the 4 (anomaly, normal) pairs are ordered right.
    assert anomaly.roc_auc([0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0]) == 0.75


def test_ties_count_one_half():
    assert anomaly.roc_auc([0.5, 0.5], [True, False]) == 0.5
    fpr, tpr, _ = anomaly.roc_curve([0.5, 0.5, 0.2], [True, False, False])
    assert fpr.tolist() == [0, 0.5, 1] and tpr.tolist() == [0, 1, 1]


def test_auc_is_the_pair_count_and_agrees_with_keras():
    rng = np.random.default_rng(0)
    labels = rng.random(500) < 0.2
    scores = rng.normal(size=500) + labels * 1.2
    scores = np.round(scores, 1)  # plenty of ties
    ours = anomaly.roc_auc(scores, labels)
    pos, neg = scores[labels], scores[~labels]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert ours == pytest.approx(pairs, abs=1e-12)
    squashed = 1 / (1 + np.exp(-scores))  # Keras' AUC wants scores in 0-1
    metric = keras.metrics.AUC(num_thresholds=20000)
    metric.update_state(labels.astype("float32"), squashed.astype("float32"))
    assert float(keras.ops.convert_to_numpy(metric.result())) == pytest.approx(ours, abs=2e-3)
    assert anomaly.roc_auc(-scores, labels) == pytest.approx(1 - ours)


@pytest.mark.parametrize(
    "scores,labels,message",
    [
        ([0.1, 0.2], [True, True], "both anomalies and normal"),
        ([0.1, 0.2, 0.3], [True, False], "same length"),
        ([0.1, float("nan")], [True, False], "finite"),
        ([0.1, 0.2], [2, 0], "booleans"),
    ],
)
def test_bad_scores(scores, labels, message):
    with pytest.raises(ValueError, match=message):
        anomaly.roc_auc(scores, labels)


def test_threshold_leaves_the_asked_share_of_normal_images_above():
    normal = np.arange(1000, dtype=float)
    threshold = anomaly.threshold_for(normal, 0.05)
    assert (normal > threshold).mean() == pytest.approx(0.05, abs=0.002)
    assert anomaly.threshold_for(normal, 0.0) == 999
    with pytest.raises(ValueError, match="`false_alarm_rate`"):
        anomaly.threshold_for(normal, 1.5)


def test_reconstruction_errors_are_per_image_mse():
    model = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Rescaling(0.5)])
    images = np.stack([np.ones((2, 2, 1)), 2 * np.ones((2, 2, 1))]).astype("float32")
    np.testing.assert_allclose(anomaly.reconstruction_errors(model, images), [0.25, 1.0])


def test_held_out_split_keeps_the_digit_out_of_training():
    mnist = data.load_mnist(limit=2000)
    split = anomaly.held_out_split(3, mnist)
    assert split["x_train"].shape[1:] == (28, 28, 1) and len(split["x_val"]) > 0
    assert split["is_anomaly"].sum() == (split["y_test"] == 3).sum() > 0
    (_, labels), _ = mnist
    assert len(split["x_train"]) + len(split["x_val"]) == (labels != 3).sum()
    # none of the training or validation images is a 3: they are all the non-3s
    train_and_val = np.concatenate([split["x_train"], split["x_val"]])
    expected = mnist[0][0][labels != 3]
    assert sorted(map(bytes, train_and_val)) == sorted(map(bytes, expected))
    with pytest.raises(ValueError, match="`held_out` must be one digit"):
        anomaly.held_out_split(10, mnist)


def test_noise_is_seeded_clipped_and_has_the_asked_spread():
    images = np.full((200, 28, 28, 1), 0.5, "float32")
    noisy = data.add_noise(images, sigma=0.1, seed=4)
    np.testing.assert_array_equal(noisy, data.add_noise(images, sigma=0.1, seed=4))
    assert noisy.dtype == np.float32 and noisy.min() >= 0 and noisy.max() <= 1
    assert float((noisy - images).std()) == pytest.approx(0.1, rel=0.02)  # 5 sigma from the clip
    with pytest.raises(ValueError, match="`sigma`"):
        data.add_noise(images, sigma=-1)


def test_psnr_by_hand():
    clean = np.zeros((2, 4, 4, 1))
    noisy = clean.copy()
    noisy[0] += 0.1  # MSE 0.01: 20 dB
    noisy[1, 0, 0] = 1.0  # MSE 1/16: 10 log10(16) dB
    np.testing.assert_allclose(psnr_per_image(noisy, clean), [20.0, 10 * np.log10(16)])
    assert psnr_per_image(clean, clean)[0] == 100.0  # a perfect copy, capped
    with pytest.raises(ValueError, match="same shape"):
        psnr_per_image(clean, clean[:1])


def test_anomaly_command_publishes_the_table_and_the_records(tmp_path, capsys):
    import json

    from cae_keras import cli

    argv = ["anomaly", "--digits", "1", "0", "--epochs", "1", "--limit", "500"]
    code = cli.main([*argv, "--seeds", "0", "1", "--out", str(tmp_path)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "held out  seed    AUC  detected  false alarms" in printed
    results = json.loads((tmp_path / "results.json").read_text())
    folder = tmp_path / results["folder"]
    assert (folder / "table.txt").read_text().strip() in printed
    runs = json.loads((folder / "results.json").read_text())["runs"]
    assert [(r["held_out"], r["seed"]) for r in runs] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert all(0.0 <= r["auc"] <= 1.0 for r in runs)
    # one seed: no seed column
    assert "seed" not in anomaly.format_auc_table(runs[:1]).splitlines()[0]


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--digits", "10"], "--digits: expected an integer from 0 to 9"),
        (["--digits", "2", "2"], "--digits: "),
        (["--out", ""], "--out: "),
        (["--data", "/no/such/mnist.npz"], "--data: "),
        (["--limit", "5"], "--limit: "),
        (["--digits", "3", "--limit", "10"], "--limit: "),
    ],
)
def test_anomaly_command_refuses_bad_arguments_before_training(argv, message, capsys, monkeypatch):
    from cae_keras import cli

    monkeypatch.setattr(anomaly, "_run_held_out", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(SystemExit) as exit_:
        cli.main(["anomaly", *argv])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("step", ["write manifest", "switch"])
def test_a_fault_while_publishing_keeps_the_previous_run(tmp_path, monkeypatch, step):
    import json

    from cae_keras import publish

    settings = dict(out=tmp_path, digits=[1], epochs=1, limit=300, log=lambda line: None)
    first = anomaly.run(**settings)
    before = json.loads((tmp_path / "results.json").read_text())

    def full_disk(name):
        if name == step:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(publish, "_checkpoint", full_disk)
    with pytest.raises(OSError, match="No space left"):
        anomaly.run(**settings)
    assert json.loads((tmp_path / "results.json").read_text()) == before
    kept = sorted(p.name for p in tmp_path.iterdir() if p.name != ".lock")
    assert kept == ["results.json", first["folder"].name]
