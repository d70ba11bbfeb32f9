"""`python -m cae_keras reproduce` with tiny settings: what it writes, what it refuses."""

import json
import subprocess
import sys

import pytest

from cae_keras import cli, reproduce

RECORD_KEYS = {"variant", "code_shape", "params", "train_rmse", "test_rmse", "seconds"}


def test_tiny_run_writes_table_figures_and_text(tmp_path, capsys):
    out = tmp_path / "out"
    status = cli.main(
        [
            "reproduce",
            "--limit",
            "256",
            "--epochs",
            "1",
            "--variants",
            "cmap1_pool4",
            "two_layer_upsample",
            "--out",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert status in (0, 1)  # 256 images are too few to promise the targets
    results = json.loads((out / "results.json").read_text())
    assert [r["variant"] for r in results["variants"]] == [
        "cmap1_pool4",
        "two_layer_upsample",
    ]
    for record in results["variants"]:
        assert RECORD_KEYS <= set(record)
        assert 0 < record["test_rmse"] < 1 and record["seconds"] >= 0
    assert (
        results["variants"][0]["code_shape"] == "7x7x1" and results["variants"][0]["params"] == 51
    )
    assert results["variants"][0]["cntk_test_rmse"] == 0.223
    for name in ("comparison.png", "loss_curves.png", "cmap1_pool4_figure.png"):
        assert (out / name).stat().st_size > 1000
    text = (out / "cmap1_pool4_encoder_output.txt").read_text()
    assert (
        text.count("# test image") == 5
        and len(text.split("# test image 1")[0].strip().splitlines()) == 8
    )
    assert "[1/2] cmap1_pool4" in printed and "CNTK test" in printed
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".reproduce-")]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--epochs", "0"], "--epochs"),
        (["--limit", "-5"], "--limit"),
        (["--seed", "x"], "--seed"),
        (["--variants", "cmap9"], "--variants"),
        (["--data", "missing.npz"], "--data: `path`: no MNIST file"),
    ],
)
def test_bad_values_are_refused_before_any_work(tmp_path, args, message):
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "cae_keras", "reproduce", "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert message in result.stderr
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_interrupted_run_leaves_no_results(tmp_path, monkeypatch):
    calls = []
    real = reproduce.run_variant

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(reproduce, "run_variant", failing)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        cli.main(
            [
                "reproduce",
                "--limit",
                "64",
                "--epochs",
                "1",
                "--variants",
                "cmap1_pool4",
                "cmap1_pool2",
                "--out",
                str(out),
            ]
        )
    assert not (out / "results.json").exists()
    assert list(tmp_path.iterdir()) == [] or not any(out.iterdir())


def test_table_formatting():
    record = {
        "variant": "cmap1_pool4",
        "code_shape": "7x7x1",
        "params": 51,
        "cntk_train_rmse": 0.225,
        "cntk_test_rmse": 0.223,
        "target_test_rmse": 0.18,
        "train_rmse": 0.17,
        "test_rmse": 0.171,
        "seconds": 12.0,
        "meets_target": True,
    }
    table = reproduce.format_table(
        [
            record,
            {**record, "variant": "x", "meets_target": False, "cntk_train_rmse": None},
        ]
    )
    lines = table.splitlines()
    assert "0.223" in lines[2] and "meets target" in lines[2]
    assert "MISSES target" in lines[3] and " - " in lines[3]


def test_published_settings():
    assert reproduce.published(1, 4).cntk_test == 0.223
    assert reproduce.published(3, 4).cntk_test == 0.196
    assert reproduce.published(1, 2).cntk_train == 0.136
    assert reproduce.published(3, 2) is None
    with pytest.raises(ValueError, match="unknown: \\['nope'\\]"):
        reproduce.check_variants(["cmap1_pool4", "nope"])


def test_table_without_targets_has_no_verdicts():
    record = {
        "variant": "two_layer",
        "code_shape": "7x7x1",
        "params": 506,
        "cntk_train_rmse": None,
        "cntk_test_rmse": None,
        "target_test_rmse": 0.12,
        "train_rmse": 0.15,
        "test_rmse": 0.16,
        "seconds": 3.0,
        "meets_target": False,
    }
    table = reproduce.format_table([record], targets=False)
    assert "target" not in table and "MISSES" not in table and "0.160" in table
