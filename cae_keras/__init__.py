"""cae-keras: convolutional autoencoders with Keras 3, taught in notebooks.

The lessons in ``notebooks/`` import everything reusable from here:

- ``cae_keras.data``: offline MNIST loading.
- ``cae_keras.shapes``: output-size arithmetic for convolution and pooling.
- ``cae_keras.numpy_ops``: convolution, transposed convolution, pooling and
  unpooling written out in plain NumPy loops, the "by hand" versions.
- ``cae_keras.layers``: ``MaxPoolingWithPositions2D``, ``MaxUnpooling2D``,
  ``TiedConv2DTranspose``, ``VariationalSampling`` and ``CropLike``.
- ``cae_keras.kernels``: max unpooling and the vector-Jacobian product, one
  function each, with their per-backend bodies side by side.
- ``cae_keras.metrics``: CNTK's per-image RMSE.
- ``cae_keras.models``: the autoencoders the lessons port.
- ``cae_keras.training``, ``cae_keras.plots``: training and pictures.
- ``cae_keras.reproduce``, ``cae_keras.anomaly``, ``cae_keras.fewlabels``: the
  jobs of lessons 04-05, 08 and 11, at full size from the command line
  (``cae_keras.cli``), published through ``cae_keras.publish``.
"""

import os as _os
import sys as _sys

from cae_keras._quiet import import_backend

__version__ = "0.1.0"

#: The one place the public repository address is kept; the lessons' Colab
#: badges and install cells are checked against it by the test suite.
REPOSITORY = "cae-keras/cae-keras"
REPOSITORY_URL = f"https://github.com/{REPOSITORY}"


def load_backend():
    """Load Keras and its backend, and register this package's layers, loss
    and metric with Keras, so that a saved `.keras` model that uses them loads
    with no `custom_objects`.

    `import cae_keras` calls it, and it does nothing else global: no tensor
    operation runs (devices can still be configured afterwards: memory
    growth, virtual devices), no seed is set, and no stream is replaced.
    Where this is the import that loads TensorFlow (a lesson's setup cell,
    the command line), its start-up log lines are kept off the screen: see
    `cae_keras._quiet` (`TF_CPP_MIN_LOG_LEVEL` defaults to 3 unless you set
    it; `CAE_KERAS_NATIVE_LOGS=1` shows every line). Calling it again does
    nothing.
    """
    import_backend()
    from cae_keras import layers, metrics  # noqa: F401  (registers them)


def _started_as_the_command_line():
    """Whether this import is `python -m cae_keras ...` or the `cae-keras`
    script starting: then `cli.main` parses the arguments first and loads the
    backend after, so `--help` and a bad argument answer at once.

    While `-m` locates its module, `sys.argv[0]` is `"-m"` (Python's
    documented behaviour); `sys.orig_argv` says which module it is.
    """
    argv0 = _sys.argv[0] if _sys.argv else ""
    if argv0 == "-m":
        argv = getattr(_sys, "orig_argv", [])
        for i, arg in enumerate(argv):
            if arg.startswith("-m"):
                module = arg[2:] or (argv[i + 1] if i + 1 < len(argv) else "")
                return module == "cae_keras"
        return False
    return _os.path.basename(argv0) in ("cae-keras", "cae-keras.exe")


if not _started_as_the_command_line():
    load_backend()
