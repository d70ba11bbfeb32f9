"""The command line as a user meets it: the name it was called by, `--help`
before any backend loads, and one convention for bad values (usage, exit 2)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cae_keras import cli


def run(argv, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, **kwargs)


def test_help_loads_no_backend():
    # `-X importtime` lists every module imported, on stderr; nothing silences
    # it before parsing, and `--help` must not get that far.
    result = run([sys.executable, "-X", "importtime", "-m", "cae_keras", "--help"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("usage: python -m cae_keras ")
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines()}
    assert "cae_keras.cli" in imported
    for heavy in ("keras", "tensorflow", "jax", "torch", "numpy"):
        assert heavy not in imported, f"--help imported {heavy}"


def test_console_script_uses_its_own_name():
    script = shutil.which("cae-keras", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the cae-keras console script is not installed in this environment")
    result = run([script, "reproduce", "--epochs", "0"])
    assert result.returncode == 2
    assert result.stderr.startswith("usage: cae-keras reproduce "), result.stderr
    assert "error: --epochs: expected an integer from 1 to 1000, got '0'" in result.stderr


@pytest.mark.parametrize(
    "argv,message",
    [
        (["notebooks", "nothere.ipynb"], "error: paths: nothing was run: 'nothere.ipynb'"),
        (["anomaly", "--out", ""], "error: --out: "),
        (["anomaly", "--data", "nothere.npz"], "error: --data: "),
        (["anomaly", "--digits", "1", "1"], "error: --digits: "),
        (["reproduce", "--variants", "nope"], "error: --variants: invalid choice: 'nope'"),
        (["reproduce", "--seeds", "1", "1"], "error: --seeds: "),
        (["fewlabels", "--steps", "15"], "error: --steps: "),
        (["segment", "--eval-sizes", "32", "32"], "error: --eval-sizes: "),
    ],
)
def test_every_bad_value_gets_the_usage_line_and_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv, prog="cae-keras")
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: cae-keras {argv[0]} "), err
    assert message in err, err


def test_a_read_only_out_is_refused_before_training(tmp_path, capsys, monkeypatch):
    from cae_keras import anomaly

    # Root may write anywhere, so the folder's answer to "may I write?" is
    # what a non-root user would get.
    real_access = os.access
    monkeypatch.setattr(
        os,
        "access",
        lambda path, mode: False if Path(path) == tmp_path else real_access(path, mode),
    )
    monkeypatch.setattr(anomaly, "_run_held_out", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(SystemExit) as exit_:
        cli.main(["anomaly", "--out", str(tmp_path)])
    assert exit_.value.code == 2
    assert f"error: --out: cannot write into {str(tmp_path)!r}" in capsys.readouterr().err


def test_the_package_loads_its_backend_when_imported_by_anything_else():
    # Only `python -m cae_keras` and the console script defer the backend:
    # another program that imports cae_keras gets the layers registered.
    code = "import sys, cae_keras; print('keras' in sys.modules)"
    result = run([sys.executable, "-c", code])
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "True"
