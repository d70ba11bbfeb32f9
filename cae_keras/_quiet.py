"""Keep TensorFlow's native start-up log lines off the terminal.

TensorFlow's C++ code logs to file descriptor 2 at import and at its first
operation (oneDNN notes, "Could not find cuda drivers", "failed call to
cuInit" on a machine without a GPU). `TF_CPP_MIN_LOG_LEVEL` no longer stops
the lines written before its logging starts, so the command line silences the
descriptor itself while Python's own `sys.stderr` (errors, tracebacks) keeps
writing to the terminal. Set `CAE_KERAS_NATIVE_LOGS=1` to see those lines.
"""

import contextlib
import os
import sys


@contextlib.contextmanager
def native_stderr_silenced():
    """Send what native code writes to descriptor 2 to the null device."""
    if os.environ.get("CAE_KERAS_NATIVE_LOGS") or not hasattr(sys.stderr, "fileno"):
        yield
        return
    try:
        if sys.stderr.fileno() != 2:
            raise OSError
    except (OSError, ValueError):  # Jupyter, pytest capture: nothing to do
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    python_stderr = sys.stderr
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    # Python keeps writing to the terminal through its own copy of it.
    sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, encoding=python_stderr.encoding)
    try:
        yield
    finally:
        sys.stderr.flush()
        sys.stderr.close()
        sys.stderr = python_stderr
        os.dup2(saved, 2)
        os.close(saved)
