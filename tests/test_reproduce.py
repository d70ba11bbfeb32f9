"""`python -m cae_keras reproduce` with tiny settings: what it writes, what it
refuses, how it reports; CNTK's recipe translated to Keras."""

import json
import math
import re
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest

from cae_keras import cli, publish, reproduce

RECORD_KEYS = {"variant", "recipe", "seed", "code_shape", "params", "train_rmse", "test_rmse"}
TINY = ["--limit", "256", "--epochs", "1"]


def run_cli(tmp_path, *args, out_name="out"):
    out = tmp_path / out_name
    status = cli.main(["reproduce", *TINY, "--out", str(out), *args])
    return status, out


def test_tiny_run_writes_table_figures_and_text(tmp_path, capsys):
    status, out = run_cli(tmp_path, "--variants", "cmap1_pool4", "two_layer_upsample")
    printed = capsys.readouterr().out
    assert status == 0  # a reduced run has no target: never a failing exit
    results = json.loads((out / "results.json").read_text())
    assert [r["variant"] for r in results["summary"]] == ["cmap1_pool4", "two_layer_upsample"]
    for record in results["runs"]:
        assert RECORD_KEYS <= set(record)
        assert 0 < record["test_rmse"] < 1 and record["seconds"] >= 0
    first = results["summary"][0]
    assert first["code_shape"] == "7x7x1" and first["params"] == 51
    assert first["cntk_test_rmse"] == 0.223 and first["verdict"] == "no target for this run"
    assert results["targets_apply"] is False
    folder = publish.latest(out)
    for name in ("comparison.png", "loss_curves.png", "cmap1_pool4_figure.png"):
        assert (folder / name).stat().st_size > 1000
        assert name in results["files"]
    assert "[1/2] cmap1_pool4, ours recipe, seed 0" in printed and "CNTK test" in printed
    assert "epoch 1/1: loss" in printed and "No target for this run" in printed
    assert not list(out.glob(".partial-*"))
    # What ran is recorded, and what the last line says was written was.
    assert results["epochs"] == {"ours": 1}
    table = (folder / "table.txt").read_text()
    assert "table.txt" in results["files"] and table.strip() in printed
    assert f"Wrote {len(results['files'])} files to {folder}/" in printed
    assert sorted(p.name for p in folder.iterdir()) == sorted([*results["files"], "results.json"])
    # Every column header stands apart from its neighbours.
    header = table.splitlines()[0]
    assert "CNTK test  CNTK recipe  ours test  ours train" in " ".join(header.split(" " * 3))
    for name in ("CNTK train", "CNTK test", "CNTK recipe", "ours test", "ours train"):
        assert f"  {name}" in header


def test_per_variant_figures_are_titled_and_curves_start_at_the_data(tmp_path, monkeypatch):
    from cae_keras import plots

    titles, limits = [], []
    real_cntk, real_curves = plots.cntk_figure, plots.loss_curves

    def cntk_figure(*args, title, **kwargs):
        titles.append(title)
        return real_cntk(*args, title=title, **kwargs)

    def loss_curves(*args, **kwargs):
        fig = real_curves(*args, **kwargs)
        limits.append(fig.axes[0].get_xlim())
        return fig

    monkeypatch.setattr(plots, "cntk_figure", cntk_figure)
    monkeypatch.setattr(plots, "loss_curves", loss_curves)
    run_cli(tmp_path, "--variants", "cmap1_pool4", "two_layer", "--recipe", "both")
    assert len(titles) == len(set(titles)) == 4  # one figure, one title, per model
    for variant in ("cmap1_pool4", "two_layer"):
        for recipe in ("cntk", "ours"):
            assert any(t.startswith(f"{variant}, {recipe} recipe, seed 0") for t in titles)
    ((low, high),) = limits
    assert -0.1 < low < 0.1 and 1 <= high < 1.2  # ten points per epoch from 0.1 on


def test_visualiser_files_are_cntks_savetxt_format_in_channel_first_order(tmp_path):
    rng = np.random.default_rng(0)
    codes, recon = rng.random((5, 7, 7, 3)), rng.random((5, 28, 28, 1))
    enc, dec = reproduce.write_visualiser_text(tmp_path, codes, recon, prefix="v_")
    # What CNTK's visualiser writes for its (C, H, W) tensors, byte for byte:
    # every value of channel 0 row by row, then channel 1, then channel 2.
    rows = [
        [codes[i, r, c, k] for k in range(3) for r in range(7) for c in range(7)] for i in range(5)
    ]
    np.savetxt(tmp_path / "cntk_enc.txt", np.array(rows), fmt="%.6f")
    np.savetxt(tmp_path / "cntk_dec.txt", recon.reshape(5, -1), fmt="%.6f")
    assert enc.read_bytes() == (tmp_path / "cntk_enc.txt").read_bytes()
    assert dec.read_bytes() == (tmp_path / "cntk_dec.txt").read_bytes()
    lines = enc.read_text().splitlines()
    assert len(lines) == 5 and len(lines[0].split()) == 147 and lines[0].split()[0].count(".") == 1
    first_channel = [float(v) for v in lines[0].split()[:49]]
    np.testing.assert_allclose(first_channel, codes[0, :, :, 0].ravel(), atol=5e-7)
    np.testing.assert_allclose(np.loadtxt(dec).reshape(recon.shape), recon, atol=5e-7)
    with pytest.raises(ValueError, match="`codes` must be \\(images, rows, columns, channels\\)"):
        reproduce.write_visualiser_text(tmp_path, codes[0], recon)


def test_seeds_are_summarized_with_mean_and_range(tmp_path, capsys):
    status, out = run_cli(tmp_path, "--variants", "cmap1_pool4", "--seeds", "0", "1")
    results = json.loads((out / "results.json").read_text())
    runs = results["runs"]
    assert [r["seed"] for r in runs] == [0, 1]
    row = results["summary"][0]
    tests = [r["test_rmse"] for r in runs]
    assert row["test_rmse"] == pytest.approx([np.mean(tests), min(tests), max(tests)])
    assert row["seeds"] == [0, 1] and row["recipe"] == "ours"
    assert f"({min(tests):.3f}-{max(tests):.3f})" in capsys.readouterr().out


def test_both_recipes_fill_both_columns(tmp_path, capsys):
    status, out = run_cli(tmp_path, "--variants", "cmap1_pool4", "--recipe", "both")
    rows = json.loads((out / "results.json").read_text())["summary"]
    assert [(r["variant"], r["recipe"]) for r in rows] == [
        ("cmap1_pool4", "cntk"),
        ("cmap1_pool4", "ours"),
    ]
    table = capsys.readouterr().out
    assert "CNTK recipe" in table and "cmap1_pool4_cntk_figure.png" in {
        p.name for p in publish.latest(out).iterdir()
    }


def test_cntk_momentum_sgd_translation():
    sgd = reproduce.cntk_momentum_sgd(batch_size=64)
    m = math.exp(-64 / 600)
    assert float(sgd.momentum) == pytest.approx(m)
    assert float(sgd.learning_rate) == pytest.approx(0.00015 * 64 * (1 - m))
    # Same updates as CNTK's unit-gain momentum on a sum-over-minibatch
    # criterion, by the definition written out in NumPy.
    rng = np.random.default_rng(1)
    grads = rng.normal(size=(6, 3)).astype("float32")  # mean gradients of 6 steps
    w = keras.Variable(np.zeros(3, "float32"))
    for g in grads:
        sgd.apply_gradients([(keras.ops.convert_to_tensor(g), w)])
    v, expected = np.zeros(3), np.zeros(3)
    for g in grads:
        v = m * v + (1 - m) * (64 * g)  # CNTK: the sum over 64 samples
        expected -= 0.00015 * v
    np.testing.assert_allclose(keras.ops.convert_to_numpy(w), expected, rtol=1e-5, atol=1e-9)


def test_cntk_glorot_scale_is_the_range_times_scale():
    init = reproduce.cntk_glorot_uniform(0.001)
    values = keras.ops.convert_to_numpy(init((5, 5, 1, 1)))
    limit = 0.001 * math.sqrt(6 / (25 + 25))  # fans of a 5x5, 1 -> 1 kernel
    assert np.abs(values).max() <= limit and np.abs(values).max() > 0.5 * limit


def test_recipes_use_cntks_budget():
    assert reproduce.RECIPES["cntk"].epochs == reproduce.RECIPES["ours"].epochs == 3
    assert reproduce.RECIPES["cntk"].batch_size == 64
    model_cntk = reproduce.VARIANTS["cmap1_pool4"].build(
        initializers=reproduce._initializers(reproduce.RECIPES["cntk"])
    )
    deconv = keras.ops.convert_to_numpy(model_cntk.get_layer("deconv1").kernel)
    assert np.abs(deconv).max() < 0.001  # glorot_uniform(0.001)
    model_ours = reproduce.VARIANTS["cmap1_pool4"].build(
        initializers=reproduce._initializers(reproduce.RECIPES["ours"])
    )
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model_ours.get_layer("conv1").bias), np.float32([0.1])
    )


def test_run_variant_takes_a_loss():
    (x,) = [np.random.default_rng(2).random((64, 28, 28, 1)).astype("float32")]
    record, model = reproduce.run_variant("cmap1_pool4", x, x, epochs=1, loss="mse")
    assert record["recipe"] == "ours" and 0 < record["test_rmse"] < 1
    assert model.loss == "mse"


def test_cli_variant_names_match_the_variants():
    assert cli._VARIANT_NAMES == tuple(reproduce.VARIANTS)


def bad_zip(path):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x_train.txt", "not an array")
    return path


def corrupt_stream(path):
    np.savez_compressed(path, x_train=np.zeros((60000, 28, 28), "uint8"))
    data = bytearray(path.read_bytes())
    data[200:400] = b"\x00" * 200  # inside the compressed member
    path.write_bytes(bytes(data))
    return path


def plain_npy(path):
    np.save(path, np.zeros(3))
    return path


@pytest.mark.parametrize(
    "args,message",
    [
        (["--epochs", "0"], "error: --epochs: expected an integer from 1 to 1000"),
        (["--epochs", "99999999999"], "error: --epochs: expected an integer"),
        (["--limit", "-5"], "error: --limit:"),
        (["--seeds", "x"], "error: --seeds:"),
        (["--seeds", str(2**40)], "error: --seeds: expected an integer from 0 to 4294967295"),
        (["--seeds", "1", "1"], "error: --seeds: "),
        (["--variants", "cmap9"], "error: --variants: invalid choice: 'cmap9'"),
        (["--variants", "cmap1_pool4", "cmap1_pool4"], "error: --variants: "),
        (["--recipe", "sgd"], "error: --recipe:"),
        (["--data", "missing.npz"], "error: --data: `path`: no MNIST file"),
        (["--out", "{file}/sub"], "error: --out:"),
        (["--out", ""], "error: --out: expected a folder, got an empty string"),
        (["--out", "{dangling}"], "error: --out: .*symbolic link to a missing folder"),
        (["--out", "{results_folder}"], "error: --out: .*results.json' must be the results file"),
        (["--data", "{bad_zip}"], "error: --data:"),
        (["--data", "{corrupt}"], "error: --data:"),
        (["--data", "{npy}"], "error: --data:"),
    ],
)
def test_bad_values_are_refused_before_any_work(tmp_path, args, message):
    (tmp_path / "file").write_text("x")
    (tmp_path / "dangling").symlink_to(tmp_path / "missing")
    (tmp_path / "clash" / "results.json").mkdir(parents=True)
    paths = {
        "file": tmp_path / "file",
        "dangling": tmp_path / "dangling",
        "results_folder": tmp_path / "clash",
        "bad_zip": bad_zip(tmp_path / "bad.npz"),
        "corrupt": corrupt_stream(tmp_path / "corrupt.npz"),
        "npy": plain_npy(tmp_path / "plain.npy"),
    }
    args = [a.format(**paths) for a in args]
    out = tmp_path / "out"
    before = sorted(p.name for p in tmp_path.iterdir())
    result = subprocess.run(
        [sys.executable, "-m", "cae_keras", "reproduce", "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    # One convention for every bad value: argparse's usage line and exit 2.
    assert result.returncode == 2
    assert result.stderr.startswith("usage: python -m cae_keras reproduce"), result.stderr
    assert re.search(message, result.stderr), result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_no_local_mnist_and_no_network_is_a_clear_error(tmp_path, monkeypatch, capsys):
    from cae_keras import data

    def offline():
        raise OSError("network unreachable")

    monkeypatch.setattr(data, "find_mnist", lambda path=None: (None, ["(test: none)"]))
    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["reproduce", "--out", str(tmp_path / "out")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: ") and "error: --data: no local MNIST file" in err


def test_terminal_shows_no_tensorflow_log_lines(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cae_keras",
            "reproduce",
            *TINY,
            "--variants",
            "cmap1_pool4",
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in __import__("os").environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for marker in ("I0000", "E0000", "W0000", "absl", "cuInit", "oneDNN", "retracing"):
        assert marker not in result.stdout + result.stderr
    assert "epoch 1/1" in result.stdout


def test_published_settings():
    assert reproduce.published(1, 4).cntk_test == 0.223
    assert reproduce.published(3, 4).cntk_test == 0.196
    assert reproduce.published(1, 2).cntk_train == 0.136
    assert reproduce.published(3, 2) is None
    with pytest.raises(ValueError, match="`variants` must be one of .*, got 'nope'"):
        reproduce.check_variants(["cmap1_pool4", "nope"])


def record(variant="cmap1_pool4", recipe="ours", seed=0, test=0.171, target=0.18):
    return {
        "variant": variant,
        "recipe": recipe,
        "seed": seed,
        "code_shape": "7x7x1",
        "params": 51,
        "cntk_train_rmse": 0.225,
        "cntk_test_rmse": 0.223,
        "target_test_rmse": target,
        "train_rmse": test - 0.001,
        "test_rmse": test,
    }


def test_verdict_needs_every_seed_to_meet_the_target():
    rows = reproduce.summarize(
        [record(seed=0, test=0.17), record(seed=1, test=0.19), record("x", test=0.1)]
    )
    assert rows[0]["meets_target"] is False and rows[0]["verdict"] == "MISSES target"
    assert rows[1]["meets_target"] is True
    table = reproduce.format_table(rows).splitlines()
    assert "MISSES target" in table[2] and "0.180 (0.170-0.190)" in table[2]
    assert "meets target" in table[3]


def test_table_without_targets_has_no_verdicts():
    rows = reproduce.summarize([record(test=0.16)], targets=False)
    assert rows[0]["verdict"] == "no target for this run" and rows[0]["meets_target"] is None
    table = reproduce.format_table(rows, targets=False)
    assert "target" not in table and "MISSES" not in table and "0.160" in table


def test_full_size_default_run_exit_code_follows_the_verdict(monkeypatch, tmp_path):
    # The training itself is replaced: this checks the verdict and exit code.
    def fake_run(variant, x_train, x_test, *, recipe, epochs, callbacks):
        r = record(variant.name, recipe.name, test=0.5, target=variant.target_test)
        model = variant.build()
        return {**r, "code_shape": "7x7x1", "params": 51, "seconds": 0.0}, model

    monkeypatch.setattr(reproduce, "run_variant", fake_run)

    # Full size is 60,000 training and 10,000 test images (no memory: broadcast).
    def full_size(n):
        return np.broadcast_to(np.zeros((1, 28, 28, 1), "float32"), (n, 28, 28, 1))

    monkeypatch.setattr(
        "cae_keras.data.load_mnist",
        lambda *a, **k: ((full_size(60000), None), (full_size(10000), None)),
    )
    status = cli.main(["reproduce", "--variants", "cmap1_pool4", "--out", str(tmp_path / "o")])
    assert status == 1  # full size, default recipe: 0.5 misses the 0.180 target
    status = cli.main(
        ["reproduce", "--variants", "cmap1_pool4", "--recipe", "cntk", "--out", str(tmp_path / "o")]
    )
    assert status == 0  # CNTK's recipe alone has no target


def snapshot(out):
    return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def test_interrupted_run_keeps_the_previous_results(tmp_path, monkeypatch):
    status, out = run_cli(tmp_path, "--variants", "cmap1_pool4")
    before = snapshot(out)
    calls = []
    real = reproduce.run_variant

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(reproduce, "run_variant", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_cli(tmp_path, "--variants", "cmap1_pool4", "cmap1_pool2")
    assert snapshot(out) == before


@pytest.mark.parametrize(
    "step", ["make scratch", "write manifest", "rename scratch", "write pointer", "switch"]
)
def test_a_fault_while_publishing_keeps_the_previous_run(tmp_path, monkeypatch, capsys, step):
    # A full disk at each step of publishing: a clean error, the previous run whole.
    status, out = run_cli(tmp_path, "--variants", "cmap1_pool4")
    before = snapshot(out)

    def full_disk(name):
        if name == step:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(publish, "_checkpoint", full_disk)
    with pytest.raises(SystemExit, match="error: --out: cannot write results: .*No space left"):
        run_cli(tmp_path, "--variants", "cmap1_pool2")
    assert snapshot(out) == before


def test_all_black_rmse_is_the_mean_image_root_mean_square():
    images = np.zeros((2, 28, 28, 1), "float32")
    images[0, :14] = 1.0  # half the pixels at 1: sqrt(0.5)
    assert reproduce.all_black_rmse(images) == pytest.approx(math.sqrt(0.5) / 2)


def cntk_model_with(conv_bias=None, deconv=None):
    model = reproduce.VARIANTS["cmap1_pool4"].build()
    if conv_bias is not None:
        model.get_layer("conv1").bias.assign(np.full((1,), conv_bias, "float32"))
        model.get_layer("conv1").kernel.assign(np.zeros((5, 5, 1, 1), "float32"))
    if deconv is not None:
        model.get_layer("deconv1").kernel.assign(np.full((5, 5, 1, 1), deconv, "float32"))
    return model


def test_diagnose_tells_a_dead_encoder_from_a_small_decoder():
    images = np.random.default_rng(0).random((16, 28, 28, 1)).astype("float32")
    black = reproduce.all_black_rmse(images)
    dead = reproduce.diagnose(cntk_model_with(conv_bias=-1.0, deconv=0.1), images)
    assert dead["active_share"] == 0.0 and dead["output_max"] == 0.0
    assert dead["rmse"] == pytest.approx(black) and not dead["left_start"]
    # Encoder on (bias 0.5 everywhere), decoder still at zero: alive but unfinished.
    faint = reproduce.diagnose(cntk_model_with(conv_bias=0.5, deconv=0.0), images)
    assert faint["active_share"] == 1.0 and faint["decoder_max"] == 0.0
    assert faint["rmse"] == pytest.approx(black) and not faint["left_start"]
    # One value of 0.5 per 4x4 window, painted 5x5 with weights 0.5: each pixel
    # gets one to four stamps of 0.25, around the images' mean of 0.5.
    lit = reproduce.diagnose(cntk_model_with(conv_bias=0.5, deconv=0.5), images)
    assert lit["left_start"] and lit["rmse"] < 0.9 * black
