"""The package as a user installs it: a wheel (not the working copy) in a fresh
virtual environment, used from another folder, with no TensorFlow installed.

Nothing is downloaded: the fresh environment sees this environment's packages
through a `.pth` file, minus TensorFlow and its companions, and pip installs
the wheel with `--no-index`. So pip checks the wheel's declared dependencies
against exactly what is there: a wheel that required TensorFlow would fail.
"""

import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "mnist.npz"
# What a JAX user does not have.
TENSORFLOW_PARTS = ("tensorflow", "tensorboard", "tf_keras", "keras_nightly", "_tensorflow")


def run(argv, **kwargs):
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, (argv, result.stdout[-3000:], result.stderr[-3000:])
    return result


@pytest.fixture(scope="module")
def jax_only_env(tmp_path_factory):
    pytest.importorskip("jax", reason="JAX is not installed")
    base = tmp_path_factory.mktemp("wheel")
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(base / "dist"),
            str(ROOT),
        ]
    )
    (wheel,) = (base / "dist").glob("cae_keras-*.whl")
    # This environment's packages, TensorFlow left out, as links in one folder.
    visible = base / "visible"
    visible.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        name = entry.name.lower()
        if name.startswith(TENSORFLOW_PARTS) or name.startswith(("cae_keras", "__editable__")):
            continue
        if name.endswith(".pth"):
            continue
        (visible / entry.name).symlink_to(entry)
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    env_site = Path(
        run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
        ).stdout.strip()
    )
    (env_site / "visible.pth").write_text(f"{visible}\n")
    # pip is one of the visible packages; --no-index: nothing is downloaded.
    run([str(python), "-m", "pip", "install", "--no-index", "--no-build-isolation", str(wheel)])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env["KERAS_BACKEND"] = "jax"
    return python, env, base


def test_wheel_imports_under_jax_without_tensorflow(jax_only_env):
    python, env, base = jax_only_env
    code = (
        "import importlib.util, json, cae_keras, keras\n"
        "from cae_keras.layers import MaxUnpooling2D\n"
        "print(json.dumps({'file': cae_keras.__file__, 'backend': keras.backend.backend(),\n"
        "    'tensorflow': importlib.util.find_spec('tensorflow') is not None}))\n"
    )
    result = run([str(python), "-c", code], cwd=base, env=env)
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    assert facts == {"file": facts["file"], "backend": "jax", "tensorflow": False}
    assert str(base / "venv") in facts["file"]  # the wheel, not the working copy
    assert result.stderr.strip() == "", result.stderr


def test_wheel_runs_the_reproduce_command_from_another_folder(jax_only_env):
    python, env, base = jax_only_env
    out = base / "out"
    result = run(
        [
            str(python),
            "-m",
            "cae_keras",
            "reproduce",
            "--data",
            str(DATA),
            "--limit",
            "300",
            "--epochs",
            "1",
            "--variants",
            "cmap1_pool4",
            "--out",
            str(out),
        ],
        cwd=base,
        env=env,
    )
    assert "No target for this run" in result.stdout
    results = json.loads((out / "results.json").read_text())
    assert results["epochs"] == {"ours": 1} and results["runs"][0]["test_rmse"] < 0.5
    assert (out / results["folder"] / "table.txt").is_file()


def test_a_saved_model_loads_once_cae_keras_is_imported(tmp_path):
    # The README's advice, checked: Keras finds the layers once `cae_keras`
    # is imported, and fails with an unclear error before.
    path = tmp_path / "m.keras"
    save = f"from cae_keras import models; models.cntk_autoencoder().save({str(path)!r})"
    run([sys.executable, "-c", save])
    load = f"import keras; keras.saving.load_model({str(path)!r})"
    without = subprocess.run(
        [sys.executable, "-c", load], capture_output=True, text=True, timeout=300
    )
    assert without.returncode != 0 and "could not be deserialized" in without.stderr
    result = run(
        [sys.executable, "-c", f"import cae_keras; {load}; print('loaded')"],
    )
    assert result.stdout.strip() == "loaded"
