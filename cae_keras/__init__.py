"""cae-keras: convolutional autoencoders with Keras 3, taught in notebooks.

The lessons in ``notebooks/`` import everything reusable from here:

- ``cae_keras.data``: offline MNIST loading.
- ``cae_keras.shapes``: output-size arithmetic for convolution and pooling.
- ``cae_keras.numpy_ops``: convolution, transposed convolution, pooling and
  unpooling written out in plain NumPy loops, the "by hand" versions.
- ``cae_keras.layers``: ``MaxUnpooling2D`` and ``TiedConv2DTranspose``.
- ``cae_keras.kernels``: max unpooling and the vector-Jacobian product, one
  function each, with their per-backend bodies side by side.
- ``cae_keras.metrics``: CNTK's per-image RMSE.
- ``cae_keras.models``: the autoencoders the lessons port.
- ``cae_keras.training``, ``cae_keras.plots``: training and pictures.
"""

__version__ = "0.1.0"

#: The one place the public repository address is kept; the lessons' Colab
#: badges and install cells are checked against it by the test suite.
REPOSITORY = "cae-keras/cae-keras"
REPOSITORY_URL = f"https://github.com/{REPOSITORY}"

# Importing the package registers its layers, loss and metric with Keras, so a
# saved `.keras` model loads with no `custom_objects`. Where this import is the
# one that loads the backend (a lesson's setup cell, the command line), the
# backend's native start-up lines are kept off the screen (see
# `cae_keras._quiet`): the import itself, and the first tensor, which makes
# TensorFlow look for a GPU ("failed call to cuInit" on a machine without one).
from cae_keras._quiet import native_stderr_silenced  # noqa: E402

with native_stderr_silenced():
    import keras  # noqa: E402

    from cae_keras import layers, metrics  # noqa: E402, F401

    keras.ops.convert_to_numpy(keras.ops.zeros(()))
