"""Keep TensorFlow's native log lines off the terminal and the notebook.

TensorFlow's C++ code logs to file descriptor 2 at import and at its first
operation (oneDNN notes, "Could not find cuda drivers", "failed call to
cuInit" on a machine without a GPU), and later while training: XLA's "XLA
service ... initialized" and "Compiled cluster using XLA!" when a model with
`MaxUnpooling2D` first runs, and an error-level note that oneDNN falls back to
Eigen for int32 when `UpSampling2D` is differentiated. None of them is an
error a user can act on, and Python's own errors still arrive as exceptions.

- `TF_CPP_MIN_LOG_LEVEL` no longer stops the lines written before TensorFlow's
  logging starts, so importing `cae_keras` silences the descriptor itself
  while it loads the backend and lets it pick its device, in a terminal and in
  a notebook alike; Python's own `sys.stderr` (errors, tracebacks, warnings)
  keeps reaching the user.
- The later lines obey `TF_CPP_MIN_LOG_LEVEL`, read once when TensorFlow
  loads: `cae_keras` sets it to 3 unless you set it yourself.

Both take effect only where `import cae_keras` is what loads TensorFlow: a
lesson imports `cae_keras` before anything that imports Keras. Set
`CAE_KERAS_NATIVE_LOGS=1` to see every line.
"""

import contextlib
import os
import sys


def native_log_level_default():
    """Set `TF_CPP_MIN_LOG_LEVEL` to 3 (no native INFO, WARNING or ERROR lines)
    unless it is set already or `CAE_KERAS_NATIVE_LOGS` asks for every line.

    Effective only before TensorFlow loads.
    """
    if not os.environ.get("CAE_KERAS_NATIVE_LOGS"):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


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
