"""Keep TensorFlow's start-up log lines off the terminal and the notebook.

Importing TensorFlow 2.21 writes lines to file descriptor 2 from C++ ("oneDNN
custom operations are on", "Could not find cuda drivers", "All log messages
before absl::InitializeLog() ...") before `TF_CPP_MIN_LOG_LEVEL` takes effect.
None of them is an error a user can act on. The later native lines (XLA's
"Compiled cluster", oneDNN's notes while training) obey
`TF_CPP_MIN_LOG_LEVEL`, which TensorFlow reads once, when it loads.

So `import cae_keras`, where it is what loads the backend:

- sets `TF_CPP_MIN_LOG_LEVEL` to 3 (no native INFO, WARNING or ERROR lines)
  unless you set it yourself;
- sends descriptor 2 to the null device for the moment the backend module is
  imported, and for nothing else. `sys.stderr` is never replaced; while user
  code or a job runs, descriptor 2 is the terminal's (or the notebook's), so a
  native fatal error still shows.

Set `CAE_KERAS_NATIVE_LOGS=1` to see every line.
"""

import contextlib
import os
import sys


def native_log_level_default():
    """Set `TF_CPP_MIN_LOG_LEVEL` to 3 unless it is set already or
    `CAE_KERAS_NATIVE_LOGS` asks for every line. Effective only before
    TensorFlow loads."""
    if not os.environ.get("CAE_KERAS_NATIVE_LOGS"):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def descriptor_2_silenced():
    """Descriptor 2 on the null device for the duration of the block.

    For the backend's import only: in a terminal Python's own `sys.stderr`
    writes to descriptor 2 as well, so anything it writes meanwhile is lost
    too (an exception raised in the block still reaches the user, printed
    after the block ends).
    """
    if os.environ.get("CAE_KERAS_NATIVE_LOGS"):
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 at all: nothing can reach it
        yield
        return
    if sys.stderr is not None:
        sys.stderr.flush()
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    try:
        yield
    finally:
        if sys.stderr is not None:
            sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def import_backend():
    """Import Keras, and with it its backend, with the start-up lines kept off
    descriptor 2 (see the module's docstring). Runs no tensor operation, so
    devices stay unconfigured and unclaimed."""
    native_log_level_default()
    if "keras" in sys.modules:  # loaded already: nothing left to keep quiet
        return
    with descriptor_2_silenced():
        import keras  # noqa: F401
