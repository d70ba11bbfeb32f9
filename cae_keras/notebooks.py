"""Running and checking the lessons.

`execute_notebooks` re-executes lessons in place in a fresh kernel, the way they
are committed; `lesson_setup` is the one call at the top of every lesson.
"""

import json
import os
import re
import tempfile
import traceback
from pathlib import Path

from cae_keras import checks
from cae_keras.publish import json_safe, write_file

# TensorFlow's C++ logging goes to the kernel's stderr in Jupyter and papermill
# (not under pytest): these lines vary by machine, so stored lessons drop them.
_TF_LOG_LINE = re.compile(
    r"^(?:"
    r"[IWEF]\d{4} [\d:.]+\s+\d+ \S+:\d+\] .*"  # absl format
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] \S+:\d+\] .*"  # TF format
    r"|WARNING: All log messages before absl::InitializeLog\(\) .*"
    r"|To enable the following instructions: .*"
    r"|.*rebuild TensorFlow with the appropriate compiler flags\."
    r")$"
)


def lesson_setup(output_dir):
    """Make a lesson's output folder and set the figure style. (Seeding is the
    lesson's own visible line, `keras.utils.set_random_seed(seed)`.)

    Returns:
        The output folder as a `Path`.
    """
    import matplotlib.pyplot as plt

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    plt.rcParams.update({"figure.dpi": 80, "savefig.dpi": 100, "image.cmap": "gray"})
    return output_dir


def write_metrics(output_dir, metrics):
    """Write `metrics.json` (atomically) into a lesson's output folder, with
    the Keras backend that produced the numbers."""
    import keras

    if not isinstance(metrics, dict) or not all(isinstance(k, str) for k in metrics):
        raise ValueError(f"`metrics` must be a dict with string keys, got {metrics!r}.")
    metrics = json_safe({"backend": keras.backend.backend(), **metrics})

    def write(f):
        # NaN is not JSON: `json_safe` made it null, and strict JSON is enforced.
        json.dump(metrics, f, indent=2, sort_keys=True, allow_nan=False)
        f.write("\n")

    return write_file(Path(output_dir) / "metrics.json", write)


def _clean_outputs(nb):
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                lines = output["text"].splitlines(keepends=True)
                text = "".join(line for line in lines if not _TF_LOG_LINE.match(line.rstrip("\n")))
                if not text.strip():
                    continue
                output["text"] = text
            kept.append(output)
        cell.outputs = kept
    return nb


class NotebookFailed(Exception):
    """A lesson that did not run to the end: `str()` is one line naming the
    notebook, the cell and the exception; `details` holds the traceback."""

    def __init__(self, path, cell_index, error, details):
        self.path, self.cell_index, self.details = path, cell_index, details
        where = "" if cell_index is None else f" cell {cell_index}"
        super().__init__(f"{path}:{where} {error}")


def _failure(path, cell_index, error):
    """`error` from nbclient as a `NotebookFailed` with a one-line summary."""
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    if isinstance(error, CellExecutionError):
        summary = f"{error.ename}: {error.evalue}".strip().splitlines()
        text = summary[0] if summary else error.ename
        details = str(error)
    elif isinstance(error, CellTimeoutError):
        text, details = "timed out (raise --timeout)", str(error)
    elif isinstance(error, DeadKernelError):
        text, details = "the kernel died", str(error)
    else:
        text = f"{type(error).__name__}: {error}".splitlines()[0]
        details = "".join(traceback.format_exception(error))
    return NotebookFailed(path, cell_index, text, details)


def execute_notebooks(paths, timeout=900, log=print):
    """Re-execute lessons in place, top to bottom, each in a fresh kernel.

    Every path is checked (an existing, readable notebook) before any runs.
    A lesson that runs to the end is rewritten whole (`write_file`, keeping
    its mode); one that fails stays as it was, and the others still run.

    Args:
        paths: the notebooks.
        timeout: seconds allowed per cell.
        log: called with each progress line.

    Returns:
        A list of `NotebookFailed`, one per lesson that failed (empty when
        all ran).

    Raises:
        ValueError: a path is missing, not a file, or not a notebook, or
            `timeout` is not a positive number.
    """
    import nbformat
    from nbclient import NotebookClient
    from traitlets.config import Config

    timeout = checks.positive_number("timeout", timeout)
    notebooks, problems = {}, []
    for path in map(Path, paths):
        if not path.is_file():
            problems.append(f"{str(path)!r} is not a file")
            continue
        try:
            notebooks[path] = nbformat.read(path, as_version=4)
        except Exception as error:  # nbformat raises several kinds
            problems.append(f"{str(path)!r} is not a readable notebook ({error})")
    if problems:
        raise ValueError("nothing was run: " + "; ".join(problems) + ".")
    failures = []
    for path, nb in notebooks.items():
        log(f"executing {path} ...")
        running = {"index": None}
        # Local sockets where the system has them, in a folder of their own that
        # goes with the kernel: over TCP the kernel warns on every start that its
        # traffic is unencrypted.
        sockets = tempfile.TemporaryDirectory(prefix="cae-keras-kernel-")
        local = {"transport": "ipc", "ip": os.path.join(sockets.name, "kernel")}
        client = NotebookClient(
            nb,
            config=Config({"KernelManager": local}) if os.name == "posix" else Config(),
            timeout=timeout,
            kernel_name="python3",
            record_timing=False,
            resources={"metadata": {"path": str(path.parent.resolve())}},
            on_cell_execute=lambda cell, cell_index, running=running: running.update(
                index=cell_index
            ),
        )
        try:
            client.execute()
        except Exception as error:  # nbclient raises several kinds; each is reported
            failures.append(_failure(path, running["index"], error))
            log(f"failed: {failures[-1]}")
            continue
        finally:
            sockets.cleanup()
        _clean_outputs(nb)
        write_file(path, lambda f, nb=nb: nbformat.write(nb, f))
    return failures
