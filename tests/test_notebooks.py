"""Every lesson runs headless through papermill with small parameters, and every
committed lesson is clean: one parameters cell, a Colab badge, kernelspec
python3, outputs in order from one run, no errors, no machine paths."""

import json
import os
import re
import tempfile
from pathlib import Path

import nbformat
import pytest

from cae_keras import REPOSITORY_URL, cli
from cae_keras.notebooks import _clean_outputs, colab_url, hygiene_problems

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
LESSONS = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
CELL_TIMEOUT = 600  # seconds per cell; papermill's default is no limit at all
# tests/conftest.py quietens TensorFlow and hides GPUs for the test process; a
# student's kernel has neither setting, so the lesson runs without them.
STUDENT_UNSET = ("TF_CPP_MIN_LOG_LEVEL", "CUDA_VISIBLE_DEVICES")
# An object's default repr, `<keras.src.callbacks.history.History at 0x7f...>`.
OBJECT_ADDRESS = re.compile(r"<[\w.]+ (?:object )?at 0x[0-9a-f]+>")

# Small settings per lesson, and what each run must write.
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
        ["comparison.png", "loss_curves.png"],
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
        "11_few_labels.ipynb",
        {"labels": [20, 40], "draws": 2, "limit": 600, "steps": 20, "pca_dims": 4},
        ["reconstructions.png", "accuracy.png"],
    ),
]


def test_every_lesson_is_run_by_a_test():
    assert LESSONS == sorted({name for name, _, _ in RUNS})
    assert len(LESSONS) == 10


def run_lesson(tmp_path, name, parameters, extra_cells=()):
    """Run a lesson through papermill into `tmp_path`, in a student's
    environment (none of the test suite's TensorFlow settings), with
    `extra_cells` appended; return the executed notebook and its `output_dir`."""
    import papermill

    source = NOTEBOOKS / name
    if extra_cells:
        nb = nbformat.read(source, as_version=4)
        nb.cells.extend(nbformat.v4.new_code_cell(code) for code in extra_cells)
        source = tmp_path / f"source_{name}"
        nbformat.write(nb, source)
    out_dir = tmp_path / "out"
    student_env = {k: os.environ[k] for k in STUDENT_UNSET if k in os.environ}
    for key in student_env:
        del os.environ[key]  # the kernel inherits the environment at its start
    try:
        _execute(papermill, source, tmp_path / name, parameters, out_dir)
    finally:
        os.environ.update(student_env)
    return nbformat.read(tmp_path / name, as_version=4), out_dir


def _execute(papermill, source, target, parameters, out_dir):
    papermill.execute_notebook(
        str(source),
        str(target),
        parameters={**parameters, "output_dir": str(out_dir)},
        cwd=str(NOTEBOOKS),
        kernel_name="python3",
        execution_timeout=CELL_TIMEOUT,
        progress_bar=False,
    )


def stderr_lines(nb):
    """Every line a cell wrote to stderr live: backend logs, warnings, anything."""
    return [
        (i, line)
        for i, cell in enumerate(nb.cells)
        for output in cell.get("outputs", [])
        if output.get("name") == "stderr"
        for line in output["text"].splitlines()
        if line.strip()
    ]


def object_addresses(nb):
    """Default object reprs (`<... at 0x...>`) in any output a student sees."""
    return [
        (i, match)
        for i, cell in enumerate(nb.cells)
        for output in cell.get("outputs", [])
        for match in OBJECT_ADDRESS.findall(json.dumps(output.get("data", output.get("text", ""))))
    ]


def try_next(nb):
    """The code a lesson's "Try next" offers, from its inline code spans:
    `(python, shell)`. Shell lines start with `python `, `papermill ` or are a
    papermill option (`-p`, `-y`); everything else must be Python."""
    cell = next(c for c in nb.cells if c.cell_type == "markdown" and "## Try next" in c.source)
    text = cell.source[cell.source.index("## Try next") :]
    python, shell = [], []
    for span in re.findall(r"`([^`]+)`", text):
        (shell if span.startswith(("python ", "papermill ", "-p ", "-y ")) else python).append(span)
    return python, shell


def try_next_cell(nb):
    """A cell that runs the lesson's Try next snippets in order, in the
    lesson's namespace, then its checks cell again, so every value offered
    for a parameter passes the lesson's own checks."""
    python, _ = try_next(nb)
    checks = next(c.source for c in nb.cells if "Parameters are checked first" in c.source)
    return "\n".join(
        [f"exec(compile({snippet!r}, 'try next', 'exec'))" for snippet in python]
        + [f"exec(compile({checks!r}, 'checks cell', 'exec'))", "print('try next: all ran')"]
    )


def lesson_parameters(name):
    import papermill

    return set(papermill.inspect_notebook(str(NOTEBOOKS / name)))


@pytest.mark.parametrize(
    "name,parameters,files", RUNS, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(RUNS)]
)
def test_lesson_runs_headless_with_papermill(tmp_path, name, parameters, files):
    first_run = next(p for n, p, _ in RUNS if n == name) is parameters
    lesson = nbformat.read(NOTEBOOKS / name, as_version=4)
    extra = [try_next_cell(lesson)] if first_run else []
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
        assert "max unpooling vs upsampling, one layer" in text
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
            r["draws"] == 2 and 0 <= r["min"] <= r["mean"] <= r["max"] <= 1
            for r in metrics["summary"]
        )
        assert len(metrics["pca"]["angles_degrees"]) == 4
        assert metrics["pca"]["pca_mse"] <= metrics["pca"]["autoencoder_mse"] + 1e-6


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


# A bad parameter stops the lesson in its checks cell, before any data or
# training, with an error that names it.
BAD_PARAMETERS = [
    ("01_conv2d.ipynb", {"digit_index": 60000}, "`digit_index` must be an integer in 0..59999"),
    ("04_cntk_autoencoder.ipynb", {"limit": 0}, "`limit` must be a positive integer or None"),
    ("04_cntk_autoencoder.ipynb", {"pool": 3}, "`pool` must be at least 2 and divide"),
    ("05_cntk_comparison.ipynb", {"variants": ["cmap9"]}, "unknown: \\['cmap9'\\]"),
    ("05_cntk_comparison.ipynb", {"loss": "msee"}, "`loss` must be 'rmse'"),
    ("06_latent_space.ipynb", {"latent_dim": 1}, "`latent_dim` must be an integer of at least 2"),
    ("06_latent_space.ipynb", {"digits": "[0, 1, 7]"}, "pass lists as YAML"),
    ("06_latent_space.ipynb", {"point": [1.0, 2.0, 3.0]}, "`point` must be None or a list of 2"),
    ("07_tied_weights.ipynb", {"dropout": 1.0}, "`dropout` must be a number in \\[0, 1\\)"),
    ("07_tied_weights.ipynb", {"batch_size": 0}, "`batch_size` must be a positive integer"),
    ("08_denoising_anomaly.ipynb", {"held_out": 10}, "`held_out` must be one digit"),
    ("08_denoising_anomaly.ipynb", {"sigma": -0.5}, "`sigma` must be a finite positive number"),
    ("09_variational_autoencoder.ipynb", {"beta": -1.0}, "`beta` must be a finite number >= 0"),
    ("11_few_labels.ipynb", {"labels": [10, 100]}, "`labels` must be an integer of at least 20"),
    ("11_few_labels.ipynb", {"objectives": ["plain", "vae"]}, "`objectives` must be one of"),
]


@pytest.mark.parametrize(
    "name,parameters,message",
    BAD_PARAMETERS,
    ids=[f"{n[:2]}-{next(iter(p))}" for n, p, _ in BAD_PARAMETERS],
)
def test_bad_parameters_stop_the_lesson_in_its_checks_cell(tmp_path, name, parameters, message):
    from papermill.exceptions import PapermillExecutionError

    with pytest.raises(PapermillExecutionError) as error:
        run_lesson(tmp_path, name, parameters)
    assert error.value.ename == "ValueError"
    assert re.search(message, error.value.evalue), error.value.evalue
    assert "Parameters are checked first" in error.value.source  # before any training


def machine_paths():
    paths = {str(Path.home()), str(NOTEBOOKS.parent), tempfile.gettempdir() + "/"}
    return [p for p in paths if len(p) > 2]


@pytest.mark.parametrize("name", LESSONS)
def test_committed_lesson_hygiene(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert hygiene_problems(nb, name, machine_paths()) == []
    assert nb.metadata["kernelspec"]["display_name"] == "Python 3"
    assert set(nb.metadata) <= {"kernelspec", "language_info"}
    assert colab_url(name).endswith(f"notebooks/{name}")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert REPOSITORY_URL in code[0].source
    # Every lesson shows at least one figure and writes into output_dir.
    assert any(o.get("output_type") == "display_data" for c in code for o in c.outputs)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert "output_dir" in params.source
    for line in params.source.splitlines():
        assert "#" in line, f"parameter without a comment: {line!r}"


@pytest.mark.parametrize("name", LESSONS)
def test_stored_outputs_show_no_object_addresses(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert object_addresses(nb) == []


@pytest.mark.parametrize("name", LESSONS)
def test_try_next_offers_only_code_that_runs(name):
    """Python lines run in the papermill test above; here every shell line is
    checked: commands parse, notebooks and scripts exist, options name real
    parameters of the lesson they set."""
    import ast
    import shlex

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    python, shell = try_next(nb)
    for snippet in python:
        ast.parse(snippet)  # not prose in backticks
    for line in shell:
        words = shlex.split(line)
        if words[:3] == ["python", "-m", "cae_keras"]:
            cli.build_parser().parse_args(words[3:])
        elif words[0] == "python":
            assert (NOTEBOOKS.parent / words[1]).is_file(), line
        elif words[0] == "papermill":
            target, options = words[1], words[3:]
            assert (NOTEBOOKS / target).is_file(), line
        else:
            target, options = name, words
        if words[0] != "python":
            names = [options[i + 1] for i in range(0, len(options), 2) if options[i] == "-p"]
            names += [
                options[i + 1].split(":")[0]
                for i in range(0, len(options), 2)
                if options[i] == "-y"
            ]
            assert names and set(names) <= lesson_parameters(target), line


def test_try_next_finds_python_and_shell_lines():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "Before: `not this`.\n\n## Try next\n\n- Set `epochs = 3` (papermill: `-p epochs 3`)"
            " and run `python -m cae_keras reproduce`."
        ),
        nbformat.v4.new_code_cell("# Parameters are checked first\nassert epochs > 0"),
    ]
    assert try_next(nb) == (["epochs = 3"], ["-p epochs 3", "python -m cae_keras reproduce"])
    ns = {"epochs": 1}
    exec(try_next_cell(nb), ns)
    assert ns["epochs"] == 3


def test_stored_stderr_keeps_warnings_but_drops_tensorflow_logs():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output(
            "stream",
            name="stderr",
            text=(
                "I0000 00:00:1795384224.426804    3466 port.cc:153] oneDNN operations.\n"
                "2026-11-22 21:50:12.123456: I tensorflow/core/platform/cpu_guard.cc:210] x\n"
                "UserWarning: a real warning\n"
            ),
        ),
        nbformat.v4.new_output(
            "stream",
            name="stderr",
            text="E0000 00:00:1.2    1 cuda_platform.cc:52] failed\n",
        ),
    ]
    nb.cells = [cell]
    _clean_outputs(nb)
    assert [o["text"] for o in nb.cells[0].outputs] == ["UserWarning: a real warning\n"]


def test_hygiene_catches_problems():
    nb = nbformat.read(NOTEBOOKS / LESSONS[0], as_version=4)
    nb.cells[3].execution_count = 99
    nb.cells[3].metadata["scrolled"] = True
    problems = hygiene_problems(nb, LESSONS[0], [os.sep + "work"])
    assert any("execution counts" in p for p in problems)
    assert any("stray metadata" in p for p in problems)


@pytest.mark.parametrize("name", LESSONS)
def test_every_parameter_shows_in_papermill_help(name):
    # papermill silently drops lines it cannot parse: such a knob vanishes
    # from --help-notebook and "Passed unknown parameter" warns on every run.
    import papermill

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    names = [line.split("=")[0].strip() for line in cell.source.splitlines() if "=" in line]
    assert names and set(names) <= set(papermill.inspect_notebook(str(NOTEBOOKS / name)))


def test_notebooks_command_checks_every_path_before_rewriting_any(tmp_path):
    lesson = tmp_path / "ok.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("print(1 + 1)"))
    nbformat.write(nb, lesson)
    before = lesson.read_bytes()
    with pytest.raises(SystemExit, match="error: paths: nothing was run: .*missing.ipynb"):
        cli.main(["notebooks", str(lesson), str(tmp_path / "missing.ipynb")])
    assert lesson.read_bytes() == before


def test_rewritten_lessons_and_metrics_keep_their_file_mode(tmp_path):
    lesson = tmp_path / "ok.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("print(1 + 1)"))
    nbformat.write(nb, lesson)
    lesson.chmod(0o644)
    cli.main(["notebooks", str(lesson)])
    assert lesson.stat().st_mode & 0o777 == 0o644
    assert nbformat.read(lesson, as_version=4).cells[0].outputs[0]["text"] == "2\n"
    from cae_keras.notebooks import write_metrics

    old = os.umask(0o022)
    try:
        path = write_metrics(tmp_path, {"a": 1})
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("name", LESSONS)
def test_nbval_markers_are_tags_not_code(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    for cell in nb.cells:
        assert "NBVAL_" not in cell.source, "use the nbval-ignore-output cell tag"
