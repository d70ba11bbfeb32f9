"""Every committed lesson is clean: one parameters cell, a Colab badge,
kernelspec python3, outputs in order from one run, no errors, no machine
paths, no object addresses, Try next lines that parse; and the notebooks
command."""

import json
import os
import re
import tempfile
from pathlib import Path

import nbformat
import pytest

from cae_keras import REPOSITORY, REPOSITORY_URL, cli
from cae_keras.notebooks import _clean_outputs
from tests.lesson_runs import (
    LESSONS,
    NOTEBOOKS,
    lesson_parameters,
    object_addresses,
    try_next,
    try_next_cell,
)


def colab_url(notebook_name):
    """The Colab address of a lesson in the public repository."""
    return (
        f"https://colab.research.google.com/github/{REPOSITORY}/blob/main/notebooks/{notebook_name}"
    )


def colab_badge(notebook_name):
    """Markdown for the "Open in Colab" badge of a lesson."""
    return (
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"({colab_url(notebook_name)})"
    )


def install_cell_source():
    """The guarded first code cell: on Colab only, install cae-keras."""
    return (
        "# On Colab, install cae-keras first; a local clone has it installed already.\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    url = "git+{REPOSITORY_URL}"\n'
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", url], check=True)'
    )


def hygiene_problems(nb, name, forbidden_paths=()):
    """What is wrong with a committed lesson, as a list of sentences.

    Checks: one cell tagged `parameters`; the Colab badge and install cell match
    `cae_keras.REPOSITORY`; kernelspec `python3`; every code cell executed, in
    order 1, 2, 3, ...; no error output; no stray cell metadata; no
    `forbidden_paths` (such as this machine's home folder) in any output.
    """
    problems = []
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        problems.append(f"{len(tagged)} cells tagged 'parameters', expected 1")
    if colab_badge(name) not in nb.cells[0].source:
        problems.append("first cell lacks the Colab badge for this lesson")
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code or code[0].source != install_cell_source():
        problems.append("first code cell is not the guarded Colab install cell")
    kernelspec = nb.metadata.get("kernelspec", {})
    if kernelspec.get("name") != "python3":
        problems.append(f"kernelspec is {kernelspec.get('name')!r}, expected 'python3'")
    counts = [c.get("execution_count") for c in code]
    if counts != list(range(1, len(code) + 1)):
        problems.append(f"execution counts {counts} are not 1..{len(code)} from one clean run")
    for i, cell in enumerate(nb.cells):
        extra = set(cell.get("metadata", {})) - {"tags"}
        if extra:
            problems.append(f"cell {i} has stray metadata {sorted(extra)}")
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                problems.append(f"cell {i} holds an error: {output.get('ename')}")
            text = json.dumps(output)
            for path in forbidden_paths:
                if path and path in text:
                    problems.append(f"cell {i} output shows the path {path!r}")
    return problems


def machine_paths():
    paths = {str(Path.home()), str(NOTEBOOKS.parent), tempfile.gettempdir() + "/"}
    return [p for p in paths if len(p) > 2]


@pytest.mark.parametrize("name", LESSONS)
def test_committed_lesson_hygiene(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert hygiene_problems(nb, name, machine_paths()) == []
    assert nb.metadata["kernelspec"]["display_name"] == "Python 3"
    assert set(nb.metadata) <= {"kernelspec", "language_info"}
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


def lesson_with_try_next(try_next_text):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("epochs = 1  # passes\nlimit = None  # images")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_code_cell(
            "# Parameters are checked first\nassert epochs > 0\nchecked.append((epochs, limit))"
        ),
        nbformat.v4.new_markdown_cell("Before: `not this`.\n\n## Try next\n\n" + try_next_text),
    ]
    return nb


def test_try_next_finds_python_and_shell_lines_and_checks_the_values_offered():
    nb = lesson_with_try_next(
        "- Set `epochs = 3` (papermill: `-p epochs 3`), then `log.append(epochs)`, and run"
        " `python -m cae_keras reproduce`."
    )
    assert try_next(nb) == (
        ["epochs = 3", "log.append(epochs)"],
        ["-p epochs 3", "python -m cae_keras reproduce"],
    )
    # At the lesson's end: its own parameters and state, as papermill left them.
    ns = {"epochs": 1, "limit": 50, "log": [], "checked": []}
    exec(try_next_cell(nb, {"limit": 50}), ns)
    assert ns["log"] == [3]  # every snippet ran in the lesson's namespace
    assert ns["checked"] == [(3, 50)]  # the value offered, through the checks cell
    bad = lesson_with_try_next("- Set `epochs = 0`.")
    with pytest.raises(AssertionError):
        exec(try_next_cell(bad, {}), {"checked": []})


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


def test_notebooks_command_checks_every_path_before_rewriting_any(tmp_path, capsys):
    lesson = tmp_path / "ok.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("print(1 + 1)"))
    nbformat.write(nb, lesson)
    before = lesson.read_bytes()
    with pytest.raises(SystemExit) as exit_:
        cli.main(["notebooks", str(lesson), str(tmp_path / "missing.ipynb")])
    assert exit_.value.code == 2
    assert re.search("error: paths: nothing was run: .*missing.ipynb", capsys.readouterr().err)
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


def tiny_lesson(path, *sources):
    nb = nbformat.v4.new_notebook()
    nb.cells.extend(nbformat.v4.new_code_cell(source) for source in sources)
    nbformat.write(nb, path)
    return path.read_bytes()


def test_a_failing_lesson_is_one_line_exit_1_and_left_as_it_was(tmp_path, capsys):
    bad = tmp_path / "bad.ipynb"
    before = tiny_lesson(bad, "x = 1", "raise ValueError('no such digit: 12')", "print('after')")
    good = tmp_path / "good.ipynb"
    tiny_lesson(good, "print(2 + 2)")
    assert cli.main(["notebooks", str(bad), str(good)]) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert lines == [f"error: {bad}: cell 1 ValueError: no such digit: 12"]
    assert "Traceback" not in err and "--verbose" in err
    assert bad.read_bytes() == before
    # The other lesson still ran and was rewritten.
    assert nbformat.read(good, as_version=4).cells[0].outputs[0]["text"] == "4\n"
    assert cli.main(["notebooks", "--verbose", str(bad)]) == 1
    assert "raise ValueError('no such digit: 12')" in capsys.readouterr().err


def test_a_cell_past_the_timeout_is_one_line_and_left_as_it_was(tmp_path, capsys):
    slow = tmp_path / "slow.ipynb"
    before = tiny_lesson(slow, "import time", "time.sleep(30)")
    assert cli.main(["notebooks", "--timeout", "2", str(slow)]) == 1
    assert f"error: {slow}: cell 1 timed out (raise --timeout)" in capsys.readouterr().err
    assert slow.read_bytes() == before


@pytest.mark.parametrize("step", ["write temporary", "switch"])
def test_a_fault_while_writing_a_lesson_keeps_the_old_file(tmp_path, capsys, monkeypatch, step):
    from cae_keras import publish

    lesson = tmp_path / "ok.ipynb"
    before = tiny_lesson(lesson, "print(1 + 1)")

    def full_disk(name):
        if name == step:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(publish, "_checkpoint", full_disk)
    with pytest.raises(SystemExit, match="error: cannot write the executed notebook: .*space"):
        cli.main(["notebooks", str(lesson)])
    assert lesson.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ok.ipynb"]


def test_metrics_are_strict_json(tmp_path):
    from cae_keras.notebooks import write_metrics

    path = write_metrics(tmp_path, {"rmse": float("nan"), "auc": 0.9})
    data = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(c))
    assert data["rmse"] is None and data["auc"] == 0.9
    with pytest.raises(ValueError, match="`metrics` must be a dict"):
        write_metrics(tmp_path, [("rmse", 1.0)])
