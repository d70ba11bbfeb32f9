"""A bad parameter stops each lesson in its checks cell, before any data or
training, with an error that names it.

Every case runs the lesson's own cells up to its checks cell in this process,
with the parameter replaced after the parameters cell as papermill replaces
it; two cases also go the whole way, through papermill in a fresh kernel."""

import re

import matplotlib
import pytest

from tests.lesson_runs import code_cells, run_cells, run_lesson

BAD_PARAMETERS = [
    ("01_conv2d.ipynb", {"digit_index": 60000}, "`digit_index` must be an integer in 0..59999"),
    ("04_cntk_autoencoder.ipynb", {"limit": 0}, "`limit` must be a positive integer or None"),
    ("04_cntk_autoencoder.ipynb", {"pool": 3}, "`pool` must be at least 2 and divide"),
    ("05_cntk_comparison.ipynb", {"variants": ["cmap9"]}, "`variants` must be one of .*'cmap9'"),
    ("05_cntk_comparison.ipynb", {"loss": "msee"}, "`loss` must be 'rmse'"),
    ("06_latent_space.ipynb", {"latent_dim": 1}, "`latent_dim` must be an integer of at least 2"),
    ("06_latent_space.ipynb", {"digits": "[0, 1, 7]"}, "pass lists as YAML"),
    ("06_latent_space.ipynb", {"point": [1.0, 2.0, 3.0]}, "`point` must be None or a list of 2"),
    ("07_tied_weights.ipynb", {"dropout": 1.0}, "`dropout` must be a number in \\[0, 1\\)"),
    ("07_tied_weights.ipynb", {"batch_size": 0}, "`batch_size` must be a positive integer"),
    ("08_denoising_anomaly.ipynb", {"held_out": 10}, "`held_out` must be one digit"),
    ("08_denoising_anomaly.ipynb", {"sigma": -0.5}, "`sigma` must be a finite positive number"),
    ("09_variational_autoencoder.ipynb", {"beta": -1.0}, "`beta` must be a finite number >= 0"),
    ("10_segmentation.ipynb", {"models": ["segnet", "fcn"]}, "`models` must be one of"),
    (
        "10_segmentation.ipynb",
        {"eval_sizes": [[20, 83]]},
        "`eval_sizes` must be an integer or a pair \\(rows, cols\\) of integers of at least 28",
    ),
    ("10_segmentation.ipynb", {"balance": 2.0}, "`balance` must be a number from 0 to 1"),
    ("11_few_labels.ipynb", {"labels": [10, 100]}, "`labels` must be an integer of at least 20"),
    ("11_few_labels.ipynb", {"objectives": ["plain", "vae"]}, "`objectives` must be one of"),
    (
        "11_few_labels.ipynb",
        {"pretrain_learning_rate": 0.0},
        "`pretrain_learning_rate` must be a finite positive number",
    ),
]
IDS = [f"{n[:2]}-{next(iter(p))}" for n, p, _ in BAD_PARAMETERS]
# Through papermill too: a list papermill passes as text, and a job's own rule.
THROUGH_PAPERMILL = ["06-digits", "10-models"]


def cells_to_the_checks(name):
    """The lesson's code cells up to its checks cell."""
    code = code_cells(name)
    at = next(i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", []))
    # The checks cell follows the parameters: nothing loads data or trains before it.
    assert code[at + 1].source.startswith("# Parameters are checked first"), name
    return code[: at + 2]


@pytest.mark.parametrize("name,parameters,message", BAD_PARAMETERS, ids=IDS)
def test_bad_parameters_stop_the_lesson_in_its_checks_cell(
    tmp_path, monkeypatch, name, parameters, message
):
    *before, checks = cells_to_the_checks(name)
    monkeypatch.chdir(tmp_path)  # where the lesson would make its output folder
    with matplotlib.rc_context():
        namespace = run_cells(name, before, parameters)
        # `checks.ArgumentError` is the `ValueError` that names its argument.
        with pytest.raises(ValueError, match=message):
            run_cells(name, [checks], namespace=namespace)


@pytest.mark.parametrize(
    "name,parameters,message",
    [case for case, i in zip(BAD_PARAMETERS, IDS, strict=True) if i in THROUGH_PAPERMILL],
    ids=THROUGH_PAPERMILL,
)
def test_through_papermill_the_kernel_stops_in_the_checks_cell(tmp_path, name, parameters, message):
    from papermill.exceptions import PapermillExecutionError

    with pytest.raises(PapermillExecutionError) as error:
        run_lesson(tmp_path, name, parameters)
    assert error.value.ename in ("ValueError", "ArgumentError")
    assert re.search(message, error.value.evalue), error.value.evalue
    assert "Parameters are checked first" in error.value.source  # before any training
