"""Every lesson runs headless through papermill with small parameters, and every
committed lesson is clean: one parameters cell, a Colab badge, kernelspec
python3, outputs in order from one run, no errors, no machine paths."""

import json
import os
import tempfile
from pathlib import Path

import nbformat
import pytest

from cae_keras import REPOSITORY_URL, cli
from cae_keras.notebooks import _clean_outputs, colab_url, hygiene_problems

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
LESSONS = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
CELL_TIMEOUT = 600  # seconds per cell; papermill's default is no limit at all

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
]


def test_every_lesson_is_run_by_a_test():
    assert LESSONS == sorted({name for name, _, _ in RUNS})
    assert len(LESSONS) == 7


@pytest.mark.parametrize(
    "name,parameters,files", RUNS, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(RUNS)]
)
def test_lesson_runs_headless_with_papermill(tmp_path, name, parameters, files):
    import papermill

    out_dir = tmp_path / "out"
    papermill.execute_notebook(
        str(NOTEBOOKS / name),
        str(tmp_path / name),
        parameters={**parameters, "output_dir": str(out_dir)},
        cwd=str(NOTEBOOKS),
        kernel_name="python3",
        execution_timeout=CELL_TIMEOUT,
        progress_bar=False,
    )
    for file in files:
        assert (out_dir / file).stat().st_size > 200, file
    metrics = json.loads((out_dir / "metrics.json").read_text())
    executed = nbformat.read(tmp_path / name, as_version=4)
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
