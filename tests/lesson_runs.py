"""Running a lesson as a student would, and reading what it showed: the
helpers the lesson tests share (not a test module itself)."""

import json
import os
import re
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
LESSONS = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
CELL_TIMEOUT = 600  # seconds per cell; papermill's default is no limit at all
# tests/conftest.py quietens TensorFlow and hides GPUs for the test process; a
# student's kernel has neither setting, so the lesson runs without them.
STUDENT_UNSET = ("TF_CPP_MIN_LOG_LEVEL", "CUDA_VISIBLE_DEVICES")
# An object's default repr, `<keras.src.callbacks.history.History at 0x7f...>`.
OBJECT_ADDRESS = re.compile(r"<[\w.]+ (?:object )?at 0x[0-9a-f]+>")


def code_cells(name):
    """The lesson's code cells, in order."""
    lesson = nbformat.read(NOTEBOOKS / name, as_version=4)
    return [c for c in lesson.cells if c.cell_type == "code"]


def run_cells(name, cells, overrides=None, namespace=None):
    """Run `cells` of a lesson in order in this process, into `namespace`;
    `overrides` replace parameters after the parameters cell, as papermill's
    injected cell would. Returns the namespace."""
    namespace = {} if namespace is None else namespace
    for cell in cells:
        exec(compile(cell.source, f"{name}:cell", "exec"), namespace)
        if "parameters" in cell.metadata.get("tags", []):
            unknown = set(overrides or {}) - set(namespace)
            assert not unknown, f"{name} has no parameters {sorted(unknown)}"
            namespace.update(overrides or {})
    return namespace


def lesson_namespace(name, **overrides):
    """What a lesson's import, parameter and model cells define, run in order
    in this process: the lesson's own builders, to test."""
    code = code_cells(name)
    chosen = [next(c for c in code if "from cae_keras" in c.source)] + [
        c for c in code if {"parameters", "model"} & set(c.metadata.get("tags", []))
    ]
    assert any("model" in c.metadata.get("tags", []) for c in chosen), f"{name}: no model cell"
    return run_cells(name, chosen, overrides)


# Small settings per lesson, and what each run must write.
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


def try_next_cell(nb, overrides=None):
    """A cell that runs the lesson's Try next snippets, then checks every
    value they offer for a parameter the way a student would use it.

    First every snippet runs in order in the lesson's namespace, at its end
    (saving a model, building a layer, changing a list). Then, in a copy of
    that namespace, the parameters cell runs again with `overrides` (the
    test's own parameters, as papermill injected them), then the snippets
    that set parameters, then the checks cell: as if the student had changed
    the parameters cell and run the lesson from the top.
    """
    import ast

    python, _ = try_next(nb)
    params = next(c.source for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    names = {t.id for node in ast.parse(params).body for t in node.targets}
    settings = [
        s
        for s in python
        if all(
            isinstance(node, ast.Assign)
            and all(isinstance(t, ast.Name) and t.id in names for t in node.targets)
            for node in ast.parse(s).body
        )
    ]
    checks = next((c.source for c in nb.cells if "Parameters are checked first" in c.source), None)
    lines = [f"exec(compile({snippet!r}, 'try next', 'exec'))" for snippet in python]
    if checks is not None:
        assigned = "\n".join(f"{k} = {v!r}" for k, v in (overrides or {}).items())
        lines.append("_try_next = dict(globals())")
        lines += [
            f"exec(compile({code!r}, {where!r}, 'exec'), _try_next)"
            for code, where in [(params, "parameters"), (assigned, "overrides")]
            + [(s, "try next") for s in settings]
            + [(checks, "checks cell")]
        ]
    return "\n".join([*lines, "print('try next: all ran')"])


def lesson_parameters(name):
    import papermill

    return set(papermill.inspect_notebook(str(NOTEBOOKS / name)))
