"""Keep TensorFlow's native start-up log lines off the terminal.

TensorFlow's C++ code logs to file descriptor 2 at import and at its first
operation (oneDNN notes, "Could not find cuda drivers", "failed call to
cuInit" on a machine without a GPU). `TF_CPP_MIN_LOG_LEVEL` no longer stops
the lines written before its logging starts, so importing `cae_keras` silences
the descriptor itself while it loads the backend and lets it pick its device,
in a terminal and in a notebook alike; Python's own `sys.stderr` (errors,
tracebacks, warnings) keeps reaching the user. Set `CAE_KERAS_NATIVE_LOGS=1`
to see those lines.
"""

import contextlib
import os
import sys


@contextlib.contextmanager
def native_stderr_silenced():
    """Send what native code writes to descriptor 2 to the null device.

    In a terminal Python's own `sys.stderr` also writes to descriptor 2, so
    it gets a private copy of the terminal for the duration. In Jupyter (and
    papermill) `sys.stderr` goes to the notebook through the kernel, while
    descriptor 2 is a pipe the kernel copies into the cell's output: that
    pipe is what native code writes to, and what is silenced.
    """
    if os.environ.get("CAE_KERAS_NATIVE_LOGS"):
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 at all: nothing can reach it
        yield
        return
    try:
        python_writes_fd2 = sys.stderr is not None and sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        python_writes_fd2 = False
    python_stderr = sys.stderr
    if python_stderr is not None:
        python_stderr.flush()
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    if python_writes_fd2:
        # Python keeps writing to the terminal through its own copy of it.
        sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, encoding=python_stderr.encoding)
    try:
        yield
    finally:
        if python_writes_fd2:
            sys.stderr.flush()
            sys.stderr.close()
            sys.stderr = python_stderr
        os.dup2(saved, 2)
        os.close(saved)
